//! The small-table tail term: per numeric column, how far out a value lies
//! on the column's skew side, as ECOD measures it (-ln of the training share
//! of values at least as far out). A network and a kNN reference fitted on a
//! few hundred rows are noisy, while rank tails are well estimated from few
//! rows: on small tables per-column tail detectors beat the learned terms
//! (`shared/MODEL_NOTES.md`; `benches/holdout.sh`). So the term counts fully
//! up to `SMALL_ROWS` training rows and fades with the cube of
//! `SMALL_ROWS / rows` above; where its weight would be negligible (about
//! 1,750 rows on) the model has none and scores as before.
//!
//! Ranks are taken in the kNN coordinate (`ColumnEncoder::knn_coord`), a
//! monotone function of the value that both scoring paths already hold, so
//! training and scoring compare the same f32 bits. A NULL's coordinate is the
//! median's: a missing value is not a tail value (its own marginal term
//! prices it).

use crate::encode::ColumnEncoder;
use crate::sample::Sample;
use crate::schema::{ColumnKind, ColumnSpec};

/// Training rows up to which the term counts fully.
pub const SMALL_ROWS: f64 = 300.0;
/// The term's weight next to the prediction term (1) on a small table.
pub const WEIGHT: f64 = 2.0;
/// Below this weight the model has no tail term.
const MIN_WEIGHT: f64 = 0.01;

/// Weight of the tail term for a model trained on `rows` sample rows.
pub fn weight_for(rows: usize) -> f64 {
    WEIGHT * (SMALL_ROWS / rows.max(1) as f64).min(1.0).powi(3)
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tails {
    /// Multiplier of a column's tail surprise inside its marginal term.
    pub weight: f32,
    /// Per model column: the numeric column's tail (None: no term).
    pub columns: Vec<Option<ColumnTail>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnTail {
    /// The training values' kNN coordinates, ascending (no NaN).
    pub sorted: Vec<f32>,
    /// The right tail (the column is skewed right or symmetric), else the left.
    pub right: bool,
}

impl ColumnTail {
    /// The tail of one column's non-NULL training values (`xs`, finite or
    /// not) and their coordinates `zs`; None with fewer than two distinct values.
    fn fit(xs: &[f64], mut zs: Vec<f32>) -> Option<Self> {
        zs.retain(|z| !z.is_nan());
        zs.sort_by(f32::total_cmp);
        if zs.first() == zs.last() {
            return None;
        }
        // Values near f64::MAX make the moments overflow (NaN): then the
        // skew of their coordinates, which are the values' own order with
        // the far tails compressed.
        let skew = Some(skewness(xs))
            .filter(|s| s.is_finite())
            .unwrap_or_else(|| {
                let z: Vec<f64> = zs.iter().map(|&z| f64::from(z)).collect();
                skewness(&z)
            });
        Some(ColumnTail {
            sorted: zs,
            right: skew >= 0.0,
        })
    }

    /// -ln of the smoothed training share of values at least as far out as
    /// `z` on the skew side; 0 for NaN.
    pub fn surprise(&self, z: f32) -> f64 {
        if z.is_nan() {
            return 0.0;
        }
        let n = self.sorted.len() as f64;
        let beyond = if self.right {
            self.sorted.len() - self.sorted.partition_point(|&v| v < z)
        } else {
            self.sorted.partition_point(|&v| v <= z)
        };
        -((beyond as f64 + 0.5) / (n + 1.0)).ln()
    }

    /// Sorted ascending, no NaN, at least two values.
    pub fn is_valid(&self) -> bool {
        self.sorted.len() >= 2
            && self.sorted.iter().all(|z| !z.is_nan())
            && self.sorted.windows(2).all(|w| w[0] <= w[1])
    }
}

/// Sample skewness of the finite values (0 when undefined).
fn skewness(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / n;
    let m2 = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m3 = v.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
    if m2 > 0.0 {
        m3 / m2.powf(1.5)
    } else {
        0.0
    }
}

impl Tails {
    /// The tail term of a model over `columns` (encoders fitted), trained on
    /// `sample`, whose column `kept[j]` is model column j; None when its weight
    /// is negligible or no column is numeric. `marg_weight` is the marginal
    /// term's weight, inside which the tail is added.
    pub fn fit(
        columns: &[ColumnSpec],
        encoders: &[ColumnEncoder],
        sample: &Sample,
        kept: &[usize],
        marg_weight: f64,
    ) -> Option<Tails> {
        let w = weight_for(sample.len());
        if w < MIN_WEIGHT || marg_weight <= 0.0 {
            return None;
        }
        let cols: Vec<Option<ColumnTail>> = columns
            .iter()
            .zip(encoders)
            .enumerate()
            .map(|(j, (spec, enc))| {
                let ColumnEncoder::Numeric(e) = enc else {
                    return None;
                };
                // A time column's later rows fold to its range (`NumericEncoder::fold`): no tail.
                if spec.kind != ColumnKind::Numeric {
                    return None;
                }
                let (xs, zs): (Vec<f64>, Vec<f32>) = (0..sample.len())
                    .filter_map(|r| {
                        let v = sample.value(r, kept[j]);
                        e.value(&v).map(|x| (x, enc.knn_coord(&v)))
                    })
                    .unzip();
                ColumnTail::fit(&xs, zs)
            })
            .collect();
        cols.iter().any(Option::is_some).then(|| Tails {
            weight: (w / marg_weight) as f32,
            columns: cols,
        })
    }

    /// The weighted tail term of column `j` at kNN coordinate `z`.
    #[inline]
    pub fn term(&self, j: usize, z: f32) -> f64 {
        match &self.columns[j] {
            Some(t) => self.weight as f64 * t.surprise(z),
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_full_on_small_tables_and_fades() {
        assert_eq!(weight_for(100), WEIGHT);
        assert_eq!(weight_for(300), WEIGHT);
        assert!((weight_for(600) - WEIGHT / 8.0).abs() < 1e-12);
        assert!(weight_for(2000) < MIN_WEIGHT);
    }

    #[test]
    fn surprise_grows_on_the_skew_side_only() {
        // Right-skewed: a long right tail.
        let xs: Vec<f64> = (0..200).map(|i| ((i as f64) / 40.0).exp()).collect();
        let zs: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let Some(t) = ColumnTail::fit(&xs, zs) else {
            panic!("no tail")
        };
        assert!(t.right);
        let (lo, mid, hi, beyond) = (
            t.surprise(0.0),
            t.surprise(10.0),
            t.surprise(140.0),
            t.surprise(1e6),
        );
        // Below the minimum on the right side: every value is at least as far out.
        assert!(lo < 0.01, "{lo}");
        assert!(mid < hi && hi < beyond, "{mid} {hi} {beyond}");
        assert!((beyond - (2.0 * 201.0f64).ln()).abs() < 1e-12);
        assert_eq!(t.surprise(f32::NAN), 0.0);
    }

    #[test]
    fn the_side_of_values_near_f64_max_comes_from_their_coordinates() {
        // Their moments overflow (NaN); the coordinates lean right.
        let mut xs: Vec<f64> = (0..100).map(f64::from).collect();
        let mut zs: Vec<f32> = (0..100).map(|i| i as f32 / 30.0).collect();
        xs.extend([1e308, 1e308, 1e308, -1e308]);
        zs.extend([714.0, 714.0, 714.0, -714.0]);
        assert!(skewness(&xs).is_nan());
        let Some(t) = ColumnTail::fit(&xs, zs) else {
            panic!("no tail")
        };
        assert!(t.right);
    }

    #[test]
    fn constant_column_has_no_tail() {
        assert!(ColumnTail::fit(&[1.0; 10], vec![0.0; 10]).is_none());
    }
}
