//! Exploration only (`--sweep`): from one trained model, score the evaluation
//! rows with several combinations of per-row features built from its
//! prediction (p), hinged marginal (m) and kNN (k) terms, plus detectors fitted here on the
//! training sample: an HBOS-like density (H), ECDF tails (E2 two-sided, EA in
//! the skew direction as ECOD), ZCA-whitened coordinates (G2: sums to the
//! Mahalanobis distance) and leave-one-column-out linear residuals (LOO, and
//! variants: |r|, ln(1 + r^2), hinged, other ridges, trimmed covariance) and
//! LeSiNN subsample nearest-neighbour distances (SN) and robust z beyond a
//! fence on the kNN coordinates (RZ), so combinations can be compared
//! without retraining. Each feature also exists
//! standardised by its training distribution: u = -ln(training tail
//! probability of the row's value), exponential extrapolation beyond the max.
//!
//! `Density` fits the histogram `density::Density` fits (a frequency table
//! for a column of few values, else 20 equal-width bins) but scores as HBOS
//! does, -ln of the value's cell mass, where the model takes the level-set
//! tail of it; `Tails` gives both empirical tails as ECOD does, where the
//! model's `tails::Tails` keeps the skew side only, in the kNN coordinate.
//! They stay apart so that a sweep compares the baselines' own statistics
//! with the model's terms. The eigen-decomposition is the model's
//! (`linalg::symmetric_eigen`).

use ssad_core::{metrics, Model, Value};

/// Raw per-row features (means over columns).
const F_P: usize = 0; // p_j
const F_M: usize = 1; // hinged m_j (the model's marginal term)
const F_K: usize = 2; // k_j
const F_H: usize = 3; // HBOS-like density surprise
const F_E2: usize = 4; // two-sided tail: -ln(2 min(F, 1 - F)) (ECDF of the sample)
const F_EA: usize = 5; // one-sided tail in the column's skew direction (ECOD's auto side)
const F_G2: usize = 6; // ZCA-whitened squared coordinate (sums to Mahalanobis)
const F_G1: usize = 7; // |ZCA-whitened coordinate|, normalised by its training mean
const F_LOO: usize = 8; // leave-one-column-out linear residual, squared, standardised
const F_G2T: usize = 9; // ZCA squared, covariance refit without the top 10% by Mahalanobis
const F_E2H: usize = 10; // two-sided tail hinged at 10%: max(0, e - ln 10)
const F_LOOT: usize = 11; // LOO with the trimmed covariance
const F_LOO1: usize = 12; // |r| sqrt(pi/2)
const F_LOOL: usize = 13; // ln(1 + r^2) / ln 2... scaled
const F_LOOH: usize = 14; // max(0, r^2 - 4)
const F_LOOR1: usize = 15; // ridge 0.1
const F_LOOR3: usize = 16; // ridge 1e-3
const F_SN8: usize = 17; // LeSiNN: mean 1-NN distance over 64 subsamples of 8 rows
const F_SN32: usize = 18; // same, subsamples of 32 rows
const F_SN16: usize = 19;
const F_SN64: usize = 20;
const F_RZ2: usize = 21; // robust z beyond 2 (kNN coordinates): mean_j max(0, |z_j| - 2)
const F_RZ3: usize = 22; // beyond 3
const F_RZ2S: usize = 23; // squared excess beyond 2
const F_RZM: usize = 24; // max_j max(0, |z_j| - 3)
const NF: usize = 25;
/// Offset of the standardised (u) features.
const U: usize = NF;

/// name, sparse weights over features (raw 0..NF, u NF..2NF).
pub const VARIANTS: &[(&str, &[(usize, f64)])] = &[
    ("cur", &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25)]),
    (
        "c+.5LOO",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOO, 0.5)],
    ),
    (
        "c+.25LOO",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOO, 0.25)],
    ),
    (
        "c+.5LOO1",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOO1, 0.5)],
    ),
    (
        "c+1LOO1",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOO1, 1.0)],
    ),
    (
        "c+.5LOOL",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOL, 0.5)],
    ),
    (
        "c+1LOOL",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOL, 1.0)],
    ),
    (
        "c+.5LOOH",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOH, 0.5)],
    ),
    (
        "c+1LOOH",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOH, 1.0)],
    ),
    (
        "c+.5LOOr.1",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOR1, 0.5)],
    ),
    (
        "c+.5LOOr.001",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOR3, 0.5)],
    ),
    (
        "c+.5LOOt",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_LOOT, 0.5)],
    ),
    ("c+1E2", &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_E2, 1.0)]),
    ("c+1G2", &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_G2, 1.0)]),
    ("uc+uE2", &[(X, 1.0), (U + F_E2, 1.0)]),
    ("uc+uH", &[(X, 1.0), (U + F_H, 1.0)]),
    ("max(uc,uE2)", &[(X + 9, 1.0)]),
    ("max(uc,uEA)", &[(X + 10, 1.0)]),
    // LeSiNN subsample nearest neighbours (SNpsi), and SN8 / SN32
    // u-standardised, hinged at the training 90th percentile (h8, h32) or 95th (h8_20).
    ("SN8", &[(F_SN8, 1.0)]),
    ("SN16", &[(F_SN16, 1.0)]),
    ("SN32", &[(F_SN32, 1.0)]),
    ("SN64", &[(F_SN64, 1.0)]),
    (
        "c+1SN8",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN8, 1.0)],
    ),
    (
        "c+2SN8",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN8, 2.0)],
    ),
    (
        "c+1SN16",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN16, 1.0)],
    ),
    (
        "c+.5SN32",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN32, 0.5)],
    ),
    (
        "c+1SN32",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN32, 1.0)],
    ),
    (
        "c+1SN64",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_SN64, 1.0)],
    ),
    ("p2m1.25SN32", &[(F_P, 1.0), (F_M, 2.0), (F_SN32, 1.25)]),
    (
        "p2m1k1SN32",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.0), (F_SN32, 1.0)],
    ),
    (
        "c+2h8",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (X + 1, 2.0)],
    ),
    (
        "c+2h32",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (X + 2, 2.0)],
    ),
    (
        "c+4h8_20",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (X + 3, 4.0)],
    ),
    ("uc+uSN8", &[(X, 1.0), (U + F_SN8, 1.0)]),
    // Robust z beyond a fence (not a tail share: a contaminated
    // tail does not raise the bar).
    ("RZ2", &[(F_RZ2, 1.0)]),
    ("RZ3", &[(F_RZ3, 1.0)]),
    ("RZ2S", &[(F_RZ2S, 1.0)]),
    ("RZM", &[(F_RZM, 1.0)]),
    (
        "c+.5RZ2",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ2, 0.5)],
    ),
    (
        "c+1RZ2",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ2, 1.0)],
    ),
    (
        "c+2RZ2",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ2, 2.0)],
    ),
    (
        "c+1RZ3",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ3, 1.0)],
    ),
    (
        "c+2RZ3",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ3, 2.0)],
    ),
    (
        "c+4RZ3",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ3, 4.0)],
    ),
    (
        "c+.5RZ2S",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ2S, 0.5)],
    ),
    (
        "c+1RZ2S",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZ2S, 1.0)],
    ),
    (
        "c+.5RZM",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZM, 0.5)],
    ),
    (
        "c+1RZM",
        &[(F_P, 1.0), (F_M, 2.0), (F_K, 1.25), (F_RZM, 1.0)],
    ),
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
        Density {
            discrete,
            lo,
            hi,
            bins,
            n,
            scale,
        }
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
}

/// Per-column tails, from the sample's ECDF (mid-ranks for ties).
struct Tails {
    sorted: Vec<f64>,
    /// true: right-skewed column (ECOD takes the right tail).
    right: bool,
}

impl Tails {
    fn fit(xs: &[f64]) -> Self {
        let mut s: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len().max(1) as f64;
        let mean = s.iter().sum::<f64>() / n;
        let m2 = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let m3 = s.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
        let skew = if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 };
        Tails {
            sorted: s,
            right: skew >= 0.0,
        }
    }
    /// (left, right) tail probabilities, smoothed.
    fn probs(&self, x: f64) -> (f64, f64) {
        let n = self.sorted.len() as f64;
        let le = self.sorted.partition_point(|&v| v <= x) as f64;
        let lt = self.sorted.partition_point(|&v| v < x) as f64;
        ((le + 0.5) / (n + 1.0), (n - lt + 0.5) / (n + 1.0))
    }
}

/// Linear (Gaussian) structure of the kNN coordinates: ZCA whitening and the
/// precision matrix.
struct Linear {
    d: usize,
    mean: Vec<f64>,
    /// Symmetric Sigma^{-1/2} (row-major d x d).
    zca: Vec<f64>,
    /// Sigma^{-1}.
    prec: Vec<f64>,
}

impl Linear {
    fn fit(rows: &[Vec<f64>], d: usize) -> Self {
        Self::fit_r(rows, d, 1e-2)
    }
    fn fit_r(rows: &[Vec<f64>], d: usize, rr: f64) -> Self {
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for r in rows {
            for j in 0..d {
                mean[j] += r[j] / n;
            }
        }
        let mut cov = vec![0.0; d * d];
        for r in rows {
            for i in 0..d {
                let a = r[i] - mean[i];
                for j in 0..d {
                    cov[i * d + j] += a * (r[j] - mean[j]) / n;
                }
            }
        }
        let (lam, v) = ssad_core::linalg::symmetric_eigen(cov.clone(), d);
        let ridge = rr * lam.iter().sum::<f64>() / d.max(1) as f64 + 1e-12;
        let mut zca = vec![0.0; d * d];
        let mut prec = vec![0.0; d * d];
        for k in 0..d {
            let l = lam[k].max(0.0) + ridge;
            for i in 0..d {
                for j in 0..d {
                    let vv = v[i * d + k] * v[j * d + k];
                    zca[i * d + j] += vv / l.sqrt();
                    prec[i * d + j] += vv / l;
                }
            }
        }
        Linear { d, mean, zca, prec }
    }
    /// (ZCA coordinates, LOO standardised residuals) of a row.
    fn coords(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let c: Vec<f64> = (0..d).map(|j| x[j] - self.mean[j]).collect();
        let w = (0..d)
            .map(|i| (0..d).map(|j| self.zca[i * d + j] * c[j]).sum())
            .collect();
        let loo = (0..d)
            .map(|i| {
                let px: f64 = (0..d).map(|j| self.prec[i * d + j] * c[j]).sum();
                px / self.prec[i * d + i].sqrt()
            })
            .collect();
        (w, loo)
    }
    fn mahalanobis(&self, x: &[f64]) -> f64 {
        self.coords(x).0.iter().map(|v| v * v).sum()
    }
}

struct Ctx {
    dens: Vec<Density>,
    tails: Vec<Tails>,
    lin: Linear,
    lin_t: Linear,
    lin_r1: Linear,
    lin_r3: Linear,
    /// Training mean of |ZCA coordinate| per column.
    g1_norm: Vec<f64>,
    sn8: Subsamples,
    sn32: Subsamples,
    sn16: Subsamples,
    sn64: Subsamples,
}

/// LeSiNN (Pang et al. 2015): the mean over `t` random subsamples of `psi`
/// training rows of the distance to the nearest row of each subsample (an
/// exact match passed over once), normalised by its training mean. Tiny
/// subsamples hold few members of a clustered anomaly group, so they cannot
/// vouch for each other as they do in one large reference.
struct Subsamples {
    sets: Vec<Vec<Vec<f64>>>,
    norm: f64,
}

impl Subsamples {
    fn fit(zs: &[Vec<f64>], psi: usize, t: usize, seed: u64) -> Self {
        let mut rng = ssad_core::rng::Rng::new(seed);
        let sets = (0..t)
            .map(|_| {
                (0..psi)
                    .map(|_| zs[rng.below(zs.len() as u64) as usize].clone())
                    .collect()
            })
            .collect();
        let mut s = Subsamples { sets, norm: 1.0 };
        let step = (zs.len() / 2000).max(1);
        let raw: Vec<f64> = zs.iter().step_by(step).map(|z| s.score(z)).collect();
        s.norm = (raw.iter().sum::<f64>() / raw.len().max(1) as f64).max(1e-9);
        s
    }
    fn score(&self, z: &[f64]) -> f64 {
        let mut total = 0.0;
        for set in &self.sets {
            let (mut best, mut skipped) = (f64::INFINITY, false);
            for r in set {
                let d2: f64 = r.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum();
                if d2 == 0.0 && !skipped {
                    skipped = true;
                    continue;
                }
                best = best.min(d2);
            }
            total += best.sqrt();
        }
        total / self.sets.len() as f64 / self.norm
    }
}

fn knn_coords(model: &Model, row: &[Value<'static>]) -> Vec<f64> {
    model
        .encoders
        .iter()
        .zip(row)
        .map(|(e, v)| e.knn_coord(v) as f64)
        .collect()
}

fn features(
    model: &Model,
    cx: &Ctx,
    row: &[Value<'static>],
    s: &mut ssad_core::Scratch,
) -> [f64; NF] {
    let d = model.columns.len() as f64;
    let mut f = [0.0; NF];
    let z = knn_coords(model, row);
    let (w, loo) = cx.lin.coords(&z);
    let (wt, loot) = cx.lin_t.coords(&z);
    let (_, lr1) = cx.lin_r1.coords(&z);
    let (_, lr3) = cx.lin_r3.coords(&z);
    f[F_SN8] = cx.sn8.score(&z);
    f[F_SN32] = cx.sn32.score(&z);
    f[F_SN16] = cx.sn16.score(&z);
    f[F_SN64] = cx.sn64.score(&z);
    for &zj in &z {
        let a = zj.abs();
        f[F_RZ2] += (a - 2.0).max(0.0) / d;
        f[F_RZ3] += (a - 3.0).max(0.0) / d;
        f[F_RZ2S] += (a - 2.0).max(0.0).powi(2) / d;
        f[F_RZM] = f[F_RZM].max((a - 3.0).max(0.0));
    }
    let parts = model.explain(row, s).unwrap_or_default();
    for c in &parts {
        let j = c.column;
        let x = row[j].as_f64().unwrap_or(f64::NAN);
        let (r, e2, ea) = if x.is_finite() {
            let (l, rr) = cx.tails[j].probs(x);
            let e2 = -(2.0 * l.min(rr)).min(1.0).ln();
            let ea = -(if cx.tails[j].right { rr } else { l }).ln();
            (cx.dens[j].surprise(x), e2, ea)
        } else {
            (0.0, 0.0, 0.0)
        };
        f[F_P] += c.prediction_term / d;
        f[F_M] += c.marginal_term / d;
        f[F_K] += c.knn_term / d;
        f[F_H] += r / d;
        f[F_E2] += e2 / d;
        f[F_EA] += ea / d;
        f[F_E2H] += (e2 - 10f64.ln()).max(0.0) / d;
        f[F_G2] += w[j] * w[j] / d;
        f[F_G1] += w[j].abs() / cx.g1_norm[j] / d;
        f[F_LOO] += loo[j] * loo[j] / d;
        f[F_G2T] += wt[j] * wt[j] / d;
        f[F_LOOT] += loot[j] * loot[j] / d;
        let r2 = loo[j] * loo[j];
        f[F_LOO1] += loo[j].abs() * (std::f64::consts::PI / 2.0).sqrt() / d;
        f[F_LOOL] += r2.ln_1p() / 0.534 / d;
        f[F_LOOH] += (r2 - 4.0).max(0.0) / d;
        f[F_LOOR1] += lr1[j] * lr1[j] / d;
        f[F_LOOR3] += lr3[j] * lr3[j] / d;
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
    let tails: Vec<Tails> = (0..d)
        .map(|j| {
            let xs: Vec<f64> = sample.iter().filter_map(|r| r[j].as_f64()).collect();
            Tails::fit(&xs)
        })
        .collect();
    let step_fit = (sample.len() / 20_000).max(1);
    let zs: Vec<Vec<f64>> = sample
        .iter()
        .step_by(step_fit)
        .map(|r| knn_coords(model, r))
        .collect();
    let lin = Linear::fit(&zs, d);
    let mut maha: Vec<(f64, usize)> = zs
        .iter()
        .enumerate()
        .map(|(i, z)| (lin.mahalanobis(z), i))
        .collect();
    maha.sort_by(|a, b| a.0.total_cmp(&b.0));
    let keep = (maha.len() as f64 * 0.9).ceil() as usize;
    let zt: Vec<Vec<f64>> = maha[..keep].iter().map(|&(_, i)| zs[i].clone()).collect();
    let lin_t = Linear::fit(&zt, d);
    let mut g1_norm = vec![0.0; d];
    for z in &zs {
        let (w, _) = lin.coords(z);
        for j in 0..d {
            g1_norm[j] += w[j].abs() / zs.len() as f64;
        }
    }
    for g in &mut g1_norm {
        *g = g.max(1e-6);
    }
    let cx = Ctx {
        dens,
        tails,
        lin,
        lin_t,
        lin_r1: Linear::fit_r(&zs, d, 0.1),
        lin_r3: Linear::fit_r(&zs, d, 1e-3),
        g1_norm,
        sn8: Subsamples::fit(&zs, 8, 64, 11),
        sn32: Subsamples::fit(&zs, 32, 64, 12),
        sn16: Subsamples::fit(&zs, 16, 64, 13),
        sn64: Subsamples::fit(&zs, 64, 64, 14),
    };
    let mut s = model.scratch();
    let step = (sample.len() / 2000).max(1);
    let train_f: Vec<[f64; NF]> = sample
        .iter()
        .step_by(step)
        .map(|r| features(model, &cx, r, &mut s))
        .collect();
    let tails_u: Vec<Tail> = (0..NF)
        .map(|i| Tail::fit(train_f.iter().map(|f| f[i]).collect()))
        .collect();
    let cur = |f: &[f64; NF]| f[F_P] + 2.0 * f[F_M] + 1.25 * f[F_K];
    let cur_u = Tail::fit(train_f.iter().map(cur).collect());
    let curl = |f: &[f64; NF]| f[F_P] + 2.0 * f[F_M] + 1.25 * f[F_K] + f[F_LOO];
    let curl_u = Tail::fit(train_f.iter().map(curl).collect());
    let feats: Vec<Vec<f64>> = eval
        .iter()
        .map(|r| {
            let f = features(model, &cx, r, &mut s);
            let mut all = f.to_vec();
            all.extend((0..NF).map(|i| tails_u[i].u(f[i])));
            let uc = cur_u.u(cur(&f));
            all.push(uc);
            let l10 = 10f64.ln();
            all.push((tails_u[F_SN8].u(f[F_SN8]) - l10).max(0.0));
            all.push((tails_u[F_SN32].u(f[F_SN32]) - l10).max(0.0));
            all.push((tails_u[F_SN8].u(f[F_SN8]) - 20f64.ln()).max(0.0));
            let ue2 = tails_u[F_E2].u(f[F_E2]);
            let uh = tails_u[F_H].u(f[F_H]);
            let uea = tails_u[F_EA].u(f[F_EA]);
            let ug2 = tails_u[F_G2].u(f[F_G2]);
            let (l20, l10) = (20f64.ln(), 10f64.ln());
            all.push((ue2 - l20).max(0.0));
            all.push((ue2 - l10).max(0.0));
            all.push((uh - l20).max(0.0));
            all.push((uea - l20).max(0.0));
            all.push((ug2 - l20).max(0.0));
            all.push(uc.max(ue2));
            all.push(uc.max(uea));
            all.push(curl_u.u(curl(&f)));
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
