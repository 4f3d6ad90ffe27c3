//! Drift of a table from what a model learned: each model column's
//! distribution (and the anomaly score's) in the rows read now, against what
//! the model stored at training. Nothing new is stored for it: a numeric
//! column's 65 training quantiles (`NumericEncoder::grid`) and its frequency
//! table when discrete (`Density`), a categorical column's category counts,
//! the NULL and NaN shares, and the 101 quantiles of the training scores.
//!
//! - PSI, the population stability index sum (a - e) ln(a / e) over bins
//!   of expected share e and observed share a (both floored at `FLOOR`): a
//!   numeric column's bins are its training octiles (open at both ends) or,
//!   when discrete, its training values and one bin for values it never
//!   held; a categorical column's are its categories, one for values outside
//!   them (`unseen`), one for NULL; NULL and NaN are bins of their own.
//! - KS, the largest gap between the training and the observed cumulative
//!   shares of a numeric column, at its training quantiles (or values).
//! - The score: PSI over the training scores' deciles, and the share of rows
//!   above their 99th percentile (1% at training).
//!
//! The report's first row is the score's, then the columns, most drifted
//! first. `drifted` follows documented thresholds: PSI above `PSI_DRIFTED` (the
//! usual "significant shift"); for the score also a share above the 99th
//! percentile over `ABOVE_P99_DRIFTED`; for a time column instead, more
//! than `OUTSIDE_DRIFTED` of the rows outside the training period (a live
//! table's times always move on, so their PSI says how far, not whether).

use crate::encode::categorical::CategoricalEncoder;
use crate::encode::{ColumnEncoder, NumericEncoder, GRID_POINTS};
use crate::rows::Rows;
use crate::schema::Value;
use crate::Model;

/// PSI above which a column has drifted.
pub const PSI_DRIFTED: f64 = 0.2;
/// Share of rows above the training scores' 99th percentile (1% at
/// training) above which the score has drifted.
pub const ABOVE_P99_DRIFTED: f64 = 0.05;
/// Share of a time column's rows outside its training range above which it
/// has drifted.
pub const OUTSIDE_DRIFTED: f64 = 0.5;
/// Least share a bin counts with, observed or expected: a bin the training
/// rows never filled weighs ln(a / FLOOR) per unit of share, not infinity.
const FLOOR: f64 = 1e-4;
/// Grid steps per PSI bin of a continuous column: 8 bins of 1/8 each.
const GRID_PER_BIN: usize = 8;
/// Score quantiles per PSI bin: 10 bins of 1/10 each.
const QUANTILES_PER_BIN: usize = 10;

/// What a row of `ssad_drift` reports of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftKind {
    Numeric,
    Time,
    Categorical,
    Score,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Numeric => "numeric",
            DriftKind::Time => "time",
            DriftKind::Categorical => "categorical",
            DriftKind::Score => "score",
        }
    }
}

/// One row of the report: a model column's drift, or the score's (no column).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDrift {
    pub column: Option<String>,
    pub kind: DriftKind,
    pub psi: f64,
    /// Numeric and time columns.
    pub ks: Option<f64>,
    /// Time columns: the share of non-null values outside the training range.
    pub outside_range: Option<f64>,
    /// Categorical columns (values outside the kept categories) and discrete
    /// numeric ones (values it never held): their share of non-null values.
    pub unseen: Option<f64>,
    /// The score: the share of rows above the training 99th percentile.
    pub above_p99: Option<f64>,
    pub drifted: bool,
}

/// Bins of one column: where a value falls, and the training shares.
#[derive(Clone, Debug)]
enum Bins {
    /// Open-ended bins split at `edges` (distinct training quantiles); the
    /// KS points are the training quantiles with their cumulative shares.
    Continuous {
        edges: Vec<f64>,
        points: Vec<f64>,
        below: Vec<f64>,
    },
    /// A training value each (`values`, sorted), then one for the others.
    Discrete {
        values: Vec<f64>,
        below: Vec<f64>,
    },
    Categorical,
}

#[derive(Clone, Debug)]
struct Column {
    bins: Bins,
    /// Expected shares: value bins..., then NULL, then NaN (numeric).
    expected: Vec<f64>,
    counts: Vec<u64>,
    /// Per KS point j: observed values with exactly j points below them.
    ks_hist: Vec<u64>,
    /// Non-null values outside [lo, hi] (time columns).
    outside: u64,
    range: (f64, f64),
}

/// Accumulates the rows of a scan (`add`), then reports (`finish`).
pub struct Drift<'m> {
    model: &'m Model,
    columns: Vec<Column>,
    score_edges: Vec<f64>,
    score_expected: Vec<f64>,
    score_counts: Vec<u64>,
    p99: f64,
    above: u64,
    rows: u64,
}

/// Share of sorted `points` strictly below `x`, as an index.
fn below(points: &[f64], x: f64) -> usize {
    points.partition_point(|&p| p < x)
}

/// Open-ended bins at the distinct `cuts` of sorted quantiles `q`, with the
/// share of training rows each holds: between cuts a and b, the share of
/// quantiles below b minus those below a.
fn open_bins(q: &[f64], cuts: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<f64>) {
    let mut edges: Vec<f64> = cuts.filter(|c| c.is_finite()).collect();
    edges.dedup();
    let last = (q.len().max(2) - 1) as f64;
    let f = |x: f64| below(q, x) as f64 / last;
    let mut shares = Vec::with_capacity(edges.len() + 1);
    let mut prev = 0.0;
    for &e in &edges {
        let at = f(e).min(1.0);
        shares.push(at - prev);
        prev = at;
    }
    shares.push(1.0 - prev);
    (edges, shares)
}

fn numeric_column(e: &NumericEncoder) -> Column {
    let nan = e.nan_rate.unwrap_or(0.0);
    let held = (1.0 - e.null_rate - nan).max(0.0);
    let d = &e.density;
    let (bins, mut expected, ks_points) = if d.values.is_empty() {
        let cuts = (GRID_PER_BIN..GRID_POINTS - 1)
            .step_by(GRID_PER_BIN)
            .map(|k| e.grid[k]);
        let (edges, shares) = open_bins(&e.grid, cuts);
        // Cumulative training share at each quantile: up to its last copy.
        let last = (GRID_POINTS - 1) as f64;
        let below_at: Vec<f64> = e
            .grid
            .iter()
            .map(|&g| e.grid.partition_point(|&p| p <= g) as f64 / last)
            .map(|s| s.min(1.0))
            .collect();
        let points = e.grid.clone();
        let n = points.len();
        (
            Bins::Continuous {
                edges,
                points,
                below: below_at,
            },
            shares,
            n,
        )
    } else {
        let total = d.counts.iter().sum::<u64>().max(1) as f64;
        let mut shares: Vec<f64> = d.counts.iter().map(|&c| c as f64 / total).collect();
        let mut acc = 0.0;
        let below_at: Vec<f64> = shares
            .iter()
            .map(|s| {
                acc += s;
                acc
            })
            .collect();
        shares.push(0.0); // values it never held
        let n = d.values.len();
        (
            Bins::Discrete {
                values: d.values.clone(),
                below: below_at,
            },
            shares,
            n,
        )
    };
    for s in &mut expected {
        *s *= held;
    }
    expected.push(e.null_rate);
    expected.push(nan);
    Column {
        counts: vec![0; expected.len()],
        expected,
        bins,
        ks_hist: vec![0; ks_points + 1],
        outside: 0,
        range: (d.lo, d.hi),
    }
}

fn categorical_column(c: &CategoricalEncoder) -> Column {
    let total = c.counts.iter().sum::<u64>().max(1) as f64;
    let expected: Vec<f64> = c.counts.iter().map(|&n| n as f64 / total).collect();
    Column {
        counts: vec![0; expected.len()],
        expected,
        bins: Bins::Categorical,
        ks_hist: Vec::new(),
        outside: 0,
        range: (0.0, 0.0),
    }
}

/// PSI of observed `counts` against `expected` shares.
fn psi(counts: &[u64], expected: &[f64]) -> f64 {
    let n = counts.iter().sum::<u64>();
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .zip(expected)
        .map(|(&c, &e)| {
            let (a, e) = ((c as f64 / n as f64).max(FLOOR), e.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

impl<'m> Drift<'m> {
    pub fn new(model: &'m Model) -> Self {
        let columns = model
            .encoders
            .iter()
            .map(|e| match e {
                ColumnEncoder::Numeric(n) => numeric_column(n),
                ColumnEncoder::Categorical(c) => categorical_column(c),
            })
            .collect();
        let q = &model.score_quantiles;
        let cuts = (QUANTILES_PER_BIN..q.len().saturating_sub(1))
            .step_by(QUANTILES_PER_BIN)
            .map(|k| q[k]);
        let (score_edges, score_expected) = open_bins(q, cuts);
        // The 99th of 101 quantiles (the last, or infinity, for fewer).
        let p99 = q.get(99).or(q.last()).copied().unwrap_or(f64::INFINITY);
        Drift {
            model,
            columns,
            score_counts: vec![0; score_expected.len()],
            score_edges,
            score_expected,
            p99,
            above: 0,
            rows: 0,
        }
    }

    /// Count the rows of `rows` (model columns, in order) with their scores.
    pub fn add(&mut self, rows: &Rows, scores: &[f64]) {
        for (r, &s) in scores.iter().enumerate().take(rows.len()) {
            for ((col, enc), v) in self
                .columns
                .iter_mut()
                .zip(&self.model.encoders)
                .zip(rows.row_values(r))
            {
                match enc {
                    ColumnEncoder::Categorical(c) => col.add_category(c.index(&v)),
                    ColumnEncoder::Numeric(_) => col.add(&v),
                }
            }
            self.score_counts[below_or_eq(&self.score_edges, s)] += 1;
            self.above += u64::from(s > self.p99);
            self.rows += 1;
        }
    }

    /// Rows counted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The score's row, then one per model column, most drifted first
    /// (drifted before not, then by PSI). The score comes first whatever
    /// its PSI: it sums up every column's drift as the model sees it, and
    /// its PSI is not on the columns' scale (a shift that breaks a relation
    /// between columns moves every row's score).
    pub fn finish(self) -> Vec<ColumnDrift> {
        let mut out: Vec<ColumnDrift> = self
            .columns
            .iter()
            .zip(&self.model.columns)
            .zip(&self.model.encoders)
            .map(|((c, spec), enc)| c.report(&spec.name, enc))
            .collect();
        let psi_score = psi(&self.score_counts, &self.score_expected);
        let above = (self.rows > 0).then(|| self.above as f64 / self.rows as f64);
        out.sort_by(|a, b| b.drifted.cmp(&a.drifted).then(b.psi.total_cmp(&a.psi)));
        out.insert(
            0,
            ColumnDrift {
                column: None,
                kind: DriftKind::Score,
                psi: psi_score,
                ks: None,
                outside_range: None,
                unseen: None,
                above_p99: above,
                drifted: psi_score > PSI_DRIFTED || above.is_some_and(|a| a > ABOVE_P99_DRIFTED),
            },
        );
        out
    }
}

/// Bin of `x` among open-ended bins split at sorted `edges`: edges <= x.
fn below_or_eq(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e <= x)
}

impl Column {
    /// A numeric column's value: NULL and NaN have their own bins.
    fn add(&mut self, v: &Value<'_>) {
        let n = self.counts.len();
        match v {
            Value::Null | Value::Text(_) => {
                self.counts[n - 2] += 1;
                return;
            }
            Value::Num(x) if x.is_nan() => {
                self.counts[n - 1] += 1;
                return;
            }
            Value::Num(_) => {}
        }
        match (&self.bins, v) {
            (Bins::Continuous { edges, points, .. }, Value::Num(x)) => {
                self.counts[below_or_eq(edges, *x)] += 1;
                self.ks_hist[below(points, *x)] += 1;
                self.outside += u64::from(*x < self.range.0 || *x > self.range.1);
            }
            (Bins::Discrete { values, .. }, Value::Num(x)) => {
                let j = below(values, *x);
                let bin = if values.get(j) == Some(x) {
                    j
                } else {
                    values.len()
                };
                self.counts[bin] += 1;
                self.ks_hist[j] += 1;
                self.outside += u64::from(*x < self.range.0 || *x > self.range.1);
            }
            _ => {}
        }
    }

    fn add_category(&mut self, i: usize) {
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
    }

    fn report(&self, name: &str, enc: &ColumnEncoder) -> ColumnDrift {
        let p = psi(&self.counts, &self.expected);
        let n = self.counts.len();
        match (enc, &self.bins) {
            (ColumnEncoder::Categorical(c), _) => {
                let held: u64 = self.counts[..c.null_index()].iter().sum();
                let unseen = self.counts[c.other_index()];
                ColumnDrift {
                    column: Some(name.to_string()),
                    kind: DriftKind::Categorical,
                    psi: p,
                    ks: None,
                    outside_range: None,
                    unseen: (held > 0).then(|| unseen as f64 / held as f64),
                    above_p99: None,
                    drifted: p > PSI_DRIFTED,
                }
            }
            (ColumnEncoder::Numeric(e), bins) => {
                let held: u64 = self.counts[..n - 2].iter().sum();
                let share = |c: u64| (held > 0).then(|| c as f64 / held as f64);
                let train_below: &[f64] = match bins {
                    Bins::Continuous { below, .. } | Bins::Discrete { below, .. } => below,
                    Bins::Categorical => &[],
                };
                // Observed share at or below KS point k: values with at
                // most k points below them.
                let mut acc = 0u64;
                let ks = (held > 0).then(|| {
                    train_below
                        .iter()
                        .enumerate()
                        .map(|(k, &t)| {
                            acc += self.ks_hist[k];
                            (acc as f64 / held as f64 - t).abs()
                        })
                        .fold(0.0, f64::max)
                });
                let unseen = match bins {
                    Bins::Discrete { values, .. } => share(self.counts[values.len()]),
                    _ => None,
                };
                let outside = if e.time { share(self.outside) } else { None };
                let drifted = if e.time {
                    outside.is_some_and(|o| o > OUTSIDE_DRIFTED)
                } else {
                    p > PSI_DRIFTED
                };
                ColumnDrift {
                    column: Some(name.to_string()),
                    kind: if e.time {
                        DriftKind::Time
                    } else {
                        DriftKind::Numeric
                    },
                    psi: p,
                    ks,
                    outside_range: outside,
                    unseen,
                    above_p99: None,
                    drifted,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::schema::{text, ColumnKind, ColumnSpec};
    use crate::train::fit_for_test;
    use crate::TrainOptions;

    /// Rows of (a, 2a + noise, kind): kind "x" with probability `px`; `shift`
    /// moves a by that many of its standard deviations.
    fn rows(n: usize, seed: u64, shift: f64, px: f64) -> Vec<Vec<Value<'static>>> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let a = rng.normal();
                let b = 2.0 * a + 0.3 * rng.normal();
                let kind = if rng.next_f64() < px { "x" } else { "y" };
                vec![Value::Num(a + shift), Value::Num(b), text(kind)]
            })
            .collect()
    }

    fn report(model: &Model, rows: &[Vec<Value<'static>>]) -> Vec<ColumnDrift> {
        let mut s = model.scratch();
        let scores: Vec<f64> = rows
            .iter()
            .map(|r| model.score(r, &mut s).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let packed = Rows::from_rows(rows[0].len(), rows).unwrap_or_else(|e| panic!("{e}"));
        let mut d = Drift::new(model);
        d.add(&packed, &scores);
        assert_eq!(d.rows(), rows.len() as u64);
        d.finish()
    }

    fn model() -> Model {
        let specs = vec![
            ColumnSpec::numbered("a", 1).remove(0),
            ColumnSpec::numbered("b", 1).remove(0),
            ColumnSpec {
                name: "kind".into(),
                kind: ColumnKind::Categorical,
            },
        ];
        let opts = TrainOptions {
            epochs: Some(3),
            seed: Some(1),
            ..Default::default()
        };
        fit_for_test(&specs, &rows(4000, 1, 0.0, 0.7), &opts)
    }

    #[test]
    fn a_fresh_sample_of_the_same_rows_has_not_drifted() {
        let m = model();
        let r = report(&m, &rows(3000, 2, 0.0, 0.7));
        assert_eq!(r.len(), 4);
        for c in &r {
            assert!(!c.drifted && c.psi < 0.05, "{c:?}");
        }
        let score = r
            .iter()
            .find(|c| c.kind == DriftKind::Score)
            .unwrap_or_else(|| panic!("no such row"));
        let above = score.above_p99.unwrap_or(1.0);
        assert!(above < 0.03, "{above}");
        let a = r
            .iter()
            .find(|c| c.column.as_deref() == Some("a0"))
            .unwrap_or_else(|| panic!("no such row"));
        assert!(a.ks.unwrap_or(1.0) < 0.05, "{a:?}");
    }

    #[test]
    fn a_shifted_column_and_swapped_categories_come_first_and_drift() {
        let m = model();
        let r = report(&m, &rows(3000, 3, 1.0, 0.3));
        // The score first, then the two moved columns.
        assert_eq!(r[0].kind, DriftKind::Score);
        let names: Vec<Option<&str>> = r[1..3].iter().map(|c| c.column.as_deref()).collect();
        assert!(
            names.contains(&Some("a0")) && names.contains(&Some("kind")),
            "{r:?}"
        );
        assert!(r[1..3].iter().all(|c| c.drifted));
        let a = r
            .iter()
            .find(|c| c.column.as_deref() == Some("a0"))
            .unwrap_or_else(|| panic!("no such row"));
        // One standard deviation: the CDFs part by about 0.38 at the median.
        assert!(a.ks.unwrap_or(0.0) > 0.3, "{a:?}");
        let score = r
            .iter()
            .find(|c| c.kind == DriftKind::Score)
            .unwrap_or_else(|| panic!("no such row"));
        assert!(score.drifted, "{score:?}");
        let b = r
            .iter()
            .find(|c| c.column.as_deref() == Some("b0"))
            .unwrap_or_else(|| panic!("no such row"));
        assert!(!b.drifted, "{b:?}");
    }

    #[test]
    fn nulls_unseen_values_and_an_empty_scan() {
        let m = model();
        let mut odd = rows(1000, 4, 0.0, 0.7);
        for r in odd.iter_mut().step_by(2) {
            r[0] = Value::Null;
            r[2] = text("never seen");
        }
        let r = report(&m, &odd);
        let kind = r
            .iter()
            .find(|c| c.column.as_deref() == Some("kind"))
            .unwrap_or_else(|| panic!("no such row"));
        assert!((kind.unseen.unwrap_or(0.0) - 0.5).abs() < 1e-9 && kind.drifted);
        let a = r
            .iter()
            .find(|c| c.column.as_deref() == Some("a0"))
            .unwrap_or_else(|| panic!("no such row"));
        assert!(a.drifted, "half NULL where training had none: {a:?}");
        // No rows: nothing drifted, no shares.
        let d = Drift::new(&m);
        for c in d.finish() {
            assert!(!c.drifted && c.psi == 0.0 && c.ks.is_none() && c.above_p99.is_none());
        }
    }

    #[test]
    fn psi_is_zero_on_the_expected_shares_and_grows_with_a_move() {
        assert!(psi(&[50, 50], &[0.5, 0.5]).abs() < 1e-12);
        let small = psi(&[55, 45], &[0.5, 0.5]);
        let large = psi(&[90, 10], &[0.5, 0.5]);
        assert!(0.0 < small && small < 0.05 && large > 0.5);
        // A bin the training rows never filled weighs finitely.
        assert!(psi(&[10, 90], &[0.0, 1.0]).is_finite());
    }

    #[test]
    fn a_time_column_drifts_when_most_rows_leave_its_period_and_levels_are_counted() {
        let specs = vec![
            ColumnSpec {
                name: "at".into(),
                kind: ColumnKind::Time,
            },
            ColumnSpec::numbered("level", 1).remove(0),
        ];
        let mut rng = Rng::new(5);
        let mut make = |n: usize, from: f64, top: u64| -> Vec<Vec<Value<'static>>> {
            (0..n)
                .map(|i| {
                    let level = rng.below(top) as f64;
                    vec![Value::Num(from + i as f64 * 60.0), Value::Num(level)]
                })
                .collect()
        };
        let train = make(2000, 0.0, 4);
        let opts = TrainOptions {
            epochs: Some(2),
            seed: Some(2),
            ..Default::default()
        };
        let m = fit_for_test(&specs, &train, &opts);
        let inside = report(&m, &make(1000, 0.0, 4));
        let later = report(&m, &make(1000, 1e9, 5));
        let at = |r: &[ColumnDrift]| {
            r.iter()
                .find(|c| c.kind == DriftKind::Time)
                .cloned()
                .unwrap_or_else(|| panic!("no such row"))
        };
        assert!(!at(&inside).drifted && at(&inside).outside_range == Some(0.0));
        assert!(at(&later).drifted && at(&later).outside_range == Some(1.0));
        // A discrete column: the level 4 it never held is a fifth of the rows.
        let level = later
            .iter()
            .find(|c| c.column.as_deref() == Some("level0"))
            .unwrap_or_else(|| panic!("no such row"));
        let unseen = level.unseen.unwrap_or(0.0);
        assert!((0.15..0.25).contains(&unseen) && level.drifted, "{level:?}");
    }
}
