//! Exploration only (`--sweep`): from one trained model, score the evaluation
//! rows with several combinations of per-row features built from its
//! prediction (p), hinged marginal (m) and kNN (k) terms, plus an HBOS-like
//! per-column density surprise fitted here on the training sample, so
//! combinations can be compared without retraining. Each feature also exists
//! standardised by its training distribution: u = -ln(training tail
//! probability of the row's value), exponential extrapolation beyond the max.

use ssad_core::{metrics, Model, Value};

/// Raw per-row features.
const F_P: usize = 0; // mean p_j
const F_M: usize = 1; // mean hinged m_j (the model's marginal term)
const F_K: usize = 2; // mean k_j
const F_H: usize = 3; // mean density surprise (HBOS)
const F_L: usize = 4; // mean level-set surprise of the density
const F_LH: usize = 5; // mean hinged level-set surprise (outer 2%)
const F_MMAX: usize = 6; // max_j m_j
const F_LMAX: usize = 7; // mean level-set surprise hinged at 1%
const F_CMAX: usize = 8; // max_j (p_j + 2 m_j + k_j)
const F_PMAX: usize = 9; // mean level-set surprise hinged at 5%
const F_K30: usize = 10; // mean k_j with 30 neighbours
const NF: usize = 11;
/// Offset of the standardised (u) features.
const U: usize = NF;

/// name, sparse weights over features (raw 0..NF, u NF..2NF).
pub const VARIANTS: &[(&str, &[(usize, f64)])] = &[
    ("cur", &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25)]),
    ("p", &[(F_P, 1.0)]),
    ("m", &[(F_M, 1.0)]),
    ("k", &[(F_K, 1.0)]),
    ("k30", &[(F_K30, 1.0)]),
    ("p+2m+1.25k30", &[(F_P, 1.0), (F_M, 2.0), (F_K30, 1.25)]),
    (
        "cur+.6k30",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 0.625), (F_K30, 0.625)],
    ),
    (
        "uP+uM+uK",
        &[(U + F_P, 1.0), (U + F_M, 1.0), (U + F_K, 1.0)],
    ),
    (
        "u+uCmax",
        &[
            (U + F_P, 1.0),
            (U + F_M, 1.0),
            (U + F_K, 1.0),
            (U + F_CMAX, 1.0),
        ],
    ),
    ("ucur+.5uH", &[(X, 1.0), (U + F_H, 0.5)]),
    ("max(uc,uH)", &[(X + 1, 1.0)]),
];
/// Derived features after the u block.
const X: usize = 2 * NF;

/// HBOS-like density of one numeric column: a frequency table for
/// low-cardinality columns, an equal-width histogram over the range otherwise,
/// with exponential extrapolation (in robust units) beyond the range.
struct Density {
    discrete: Option<(Vec<f64>, Vec<f64>)>,
    lo: f64,
    hi: f64,
    bins: Vec<f64>,
    n: f64,
    scale: f64,
    /// Sorted training surprises (for the level-set transform).
    level: Vec<f64>,
}

const BINS: usize = 20;
const MAX_DISCRETE: usize = 50;

impl Density {
    fn fit(xs: &[f64], scale: f64) -> Self {
        let mut s: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len().max(1) as f64;
        let (lo, hi) = (
            s.first().copied().unwrap_or(0.0),
            s.last().copied().unwrap_or(0.0),
        );
        let mut vals: Vec<f64> = Vec::new();
        let mut cnts: Vec<f64> = Vec::new();
        for &x in &s {
            if vals.last() == Some(&x) {
                *cnts.last_mut().unwrap_or_else(|| unreachable!()) += 1.0;
            } else {
                vals.push(x);
                cnts.push(1.0);
            }
        }
        let discrete = if vals.len() <= MAX_DISCRETE && vals.len() as f64 * 5.0 <= n {
            Some((vals, cnts))
        } else {
            None
        };
        let mut bins = vec![0.0; BINS];
        if hi > lo {
            for &x in &s {
                let b = (((x - lo) / (hi - lo)) * BINS as f64).floor() as usize;
                bins[b.min(BINS - 1)] += 1.0;
            }
        }
        let mut d = Density {
            discrete,
            lo,
            hi,
            bins,
            n,
            scale,
            level: Vec::new(),
        };
        let mut level: Vec<f64> = s.iter().map(|&x| d.surprise(x)).collect();
        level.sort_by(f64::total_cmp);
        d.level = level;
        d
    }

    /// -ln(probability mass of the value's cell), extrapolated beyond the range.
    fn surprise(&self, x: f64) -> f64 {
        let floor = -(0.5 / (self.n + 1.0)).ln();
        if x < self.lo {
            return floor + (self.lo - x) / self.scale;
        }
        if x > self.hi {
            return floor + (x - self.hi) / self.scale;
        }
        if let Some((vals, cnts)) = &self.discrete {
            let i = vals.partition_point(|&v| v < x);
            let c = if i < vals.len() && vals[i] == x {
                cnts[i]
            } else {
                0.0
            };
            return -((c + 0.5) / (self.n + 1.0)).ln();
        }
        if self.hi <= self.lo {
            return 0.0;
        }
        let b = (((x - self.lo) / (self.hi - self.lo)) * BINS as f64).floor() as usize;
        -((self.bins[b.min(BINS - 1)] + 0.5) / (self.n + 1.0)).ln()
    }

    /// -ln(share of training values at least as surprising).
    fn level_surprise(&self, r: f64) -> f64 {
        let ge = self.level.len() - self.level.partition_point(|&v| v < r - 1e-12);
        let n = self.level.len() as f64;
        if ge == 0 {
            let top = self.level.last().copied().unwrap_or(0.0);
            return (2.0 * (n + 1.0)).ln() + (r - top).max(0.0);
        }
        -((ge as f64 + 0.5) / (n + 1.0)).ln()
    }
}

fn features(
    model: &Model,
    m30: &Model,
    dens: &[Density],
    means: &[f64],
    row: &[Value<'static>],
    s: &mut ssad_core::Scratch,
) -> [f64; NF] {
    let d = model.columns.len() as f64;
    let mut f = [0.0; NF];
    for c in m30.explain(row, s).unwrap_or_default() {
        f[F_K30] += c.knn_term / d;
    }
    let parts = model.explain(row, s).unwrap_or_default();
    for c in &parts {
        let j = c.column;
        let x = row[j].as_f64().unwrap_or(f64::NAN);
        let r = if x.is_finite() {
            dens[j].surprise(x)
        } else {
            0.0
        };
        let l = dens[j].level_surprise(r);
        f[F_P] += c.prediction_term / d;
        f[F_M] += c.marginal_term / d;
        f[F_K] += c.knn_term / d;
        f[F_H] += (r - means[j]) / d;
        f[F_L] += l / d;
        f[F_LH] += (l - 50f64.ln()).max(0.0) / d;
        f[F_MMAX] = f[F_MMAX].max(c.marginal_term);
        f[F_LMAX] += (l - 100f64.ln()).max(0.0) / d;
        f[F_CMAX] = f[F_CMAX].max(c.prediction_term + 2.0 * c.marginal_term + c.knn_term);
        f[F_PMAX] += (l - 20f64.ln()).max(0.0) / d;
    }
    f
}

/// Standardiser of one feature: -ln of the training tail probability.
struct Tail {
    sorted: Vec<f64>,
    beta: f64,
}

impl Tail {
    fn fit(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let q90 = v[(0.9 * (n - 1) as f64) as usize];
        let top: Vec<f64> = v.iter().filter(|&&x| x > q90).map(|&x| x - q90).collect();
        let beta = if top.is_empty() {
            1e-3
        } else {
            (top.iter().sum::<f64>() / top.len() as f64).max(1e-6)
        };
        Tail { sorted: v, beta }
    }
    fn u(&self, x: f64) -> f64 {
        let n = self.sorted.len() as f64;
        let ge = self.sorted.len() - self.sorted.partition_point(|&v| v < x);
        if ge == 0 {
            let top = self.sorted[self.sorted.len() - 1];
            return (2.0 * (n + 1.0)).ln() + (x - top) / self.beta;
        }
        -((ge as f64 + 0.5) / (n + 1.0)).ln()
    }
}

/// (variant, auroc, auprc) for each variant.
pub fn sweep(
    model: &Model,
    sample: &[Vec<Value<'static>>],
    eval: &[Vec<Value<'static>>],
    labels: &[bool],
) -> Vec<(&'static str, f64, f64)> {
    let d = model.columns.len();
    let dens: Vec<Density> = (0..d)
        .map(|j| {
            let xs: Vec<f64> = sample.iter().filter_map(|r| r[j].as_f64()).collect();
            let scale = match &model.encoders[j] {
                ssad_core::encode::ColumnEncoder::Numeric(e) => e.scale,
                _ => 1.0,
            };
            Density::fit(&xs, scale)
        })
        .collect();
    let means: Vec<f64> = dens
        .iter()
        .map(|de| de.level.iter().sum::<f64>() / de.level.len().max(1) as f64)
        .collect();
    let mut m30 = model.clone();
    m30.reference = ssad_core::knn::Reference::with_k(d, model.reference.rows.clone(), 30);
    let m30 = &m30;
    let mut s = model.scratch();
    let step = (sample.len() / 2000).max(1);
    let train_f: Vec<[f64; NF]> = sample
        .iter()
        .step_by(step)
        .map(|r| features(model, m30, &dens, &means, r, &mut s))
        .collect();
    let tails: Vec<Tail> = (0..NF)
        .map(|i| Tail::fit(train_f.iter().map(|f| f[i]).collect()))
        .collect();
    let cur_u = Tail::fit(
        train_f
            .iter()
            .map(|f| f[F_P] + 2.0 * f[F_M] + 1.25 * f[F_K])
            .collect(),
    );
    let lh_u = Tail::fit(
        train_f
            .iter()
            .map(|f| f[F_P] + 2.0 * f[F_LH] + f[F_K])
            .collect(),
    );
    let feats: Vec<Vec<f64>> = eval
        .iter()
        .map(|r| {
            let f = features(model, m30, &dens, &means, r, &mut s);
            let mut all = f.to_vec();
            all.extend((0..NF).map(|i| tails[i].u(f[i])));
            let uc = cur_u.u(f[F_P] + 2.0 * f[F_M] + 1.25 * f[F_K]);
            let uh = tails[F_H].u(f[F_H]);
            let ul = tails[F_L].u(f[F_L]);
            let ulh = lh_u.u(f[F_P] + 2.0 * f[F_LH] + f[F_K]);
            all.push(uc);
            all.push(uc.max(uh));
            all.push(uc.max(ul));
            let m = uc.max(uh);
            all.push(m + ((uc - m).exp() + (uh - m).exp()).ln());
            all.push(uc.max(uh).max(0.0));
            all.push(ulh);
            all.push(ulh.max(uh));
            all
        })
        .collect();
    VARIANTS
        .iter()
        .map(|&(name, w)| {
            let sc: Vec<f64> = feats
                .iter()
                .map(|f| w.iter().map(|&(i, wi)| f[i] * wi).sum())
                .collect();
            (
                name,
                metrics::auroc(&sc, labels).unwrap_or(f64::NAN),
                metrics::auprc(&sc, labels).unwrap_or(f64::NAN),
            )
        })
        .collect()
}
