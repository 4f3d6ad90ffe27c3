//! Numeric and time columns: robust scaling for the network, an empirical
//! density for the marginal ("surprising on its own") term, and the
//! quantile grid that drift checks compare against.

use super::skip::SkipReason;
use crate::density::Density;
use crate::schema::Value;
use serde::Serialize;

/// Network inputs are clipped so one wild value cannot saturate the encoder;
/// the marginal term keeps the unclipped evidence.
pub const INPUT_CLIP: f32 = 5.0;
/// Quantile grid points kept per numeric column.
pub const GRID_POINTS: usize = 65;
/// The largest standardised value, in robust units either side of the
/// median, of a model of format 6 on (`NumericEncoder::z`): a value beyond
/// it scores as a value at it. Far beyond any ordinary data (the shared
/// tables reach 4,000 units), and small enough that a row's terms stay
/// finite summed over any number of columns: 1e308, f64::MAX and the
/// infinities (read as f64::MAX / 4) all score alike, as the most distant
/// value there is, never NaN.
pub const Z_MAX: f64 = 1e15;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NumericEncoder {
    pub median: f64,
    /// Robust scale: IQR / 1.349 (the std of a normal), std when the IQR is 0.
    pub scale: f64,
    /// Share of NULLs in the training sample.
    pub null_rate: f64,
    /// Share of NaNs in the training sample (format 6 on): a NaN is a value
    /// of its own. Its marginal term is -ln of its smoothed training share,
    /// as a NULL's is of its own, when the column held NaNs in training (a
    /// common NaN is ordinary, a rare one is evidence as a rare level is);
    /// a NaN the column never held is not a number it has seen anywhere on
    /// its axis, and is as surprising as the farthest value there is (the
    /// density's surprise `Z_MAX` units beyond its range, as for an
    /// infinity): a column that never held NaN flags one, however many
    /// columns the row has. For the network, the kNN term and the linear
    /// term a NaN is missing, as a NULL is: the input slot 0 with the
    /// missing flag raised (`nullable`), no prediction target, the median's
    /// kNN coordinate. None: NaN reads as NULL everywhere, as models of
    /// formats 1 to 5 score it (and their standardised value is bounded only
    /// where infinite, see `z_max`).
    pub nan_rate: Option<f64>,
    /// Non-null training values seen (for the CDF's resolution floor).
    pub count: u64,
    /// Quantiles at probabilities k / (GRID_POINTS - 1).
    pub grid: Vec<f64>,
    /// Density of the values for the marginal term.
    pub density: Density,
    /// A time column (`ColumnKind::Time`): values less than one training
    /// span after the training range count as its end (`fold`).
    pub time: bool,
    /// Derived: for a discrete column, each training level's network input,
    /// kNN coordinate and marginal, looked up instead of computed (the same
    /// bits: built by the same arithmetic).
    #[serde(skip)]
    levels: Vec<(f32, f32, f64)>,
    /// Derived: the largest standardised value (`z`) in robust units, either
    /// side: `Z_MAX` from format 6 on (`nan_rate` is known). Models of
    /// formats 1 to 5 keep every finite z and so every finite score they
    /// gave: `f64::MAX` cuts only an infinite z, which a finite value far
    /// beyond a narrow column's range reaches ((1e308 - median) / 0.01), and
    /// which would turn its kNN coordinate infinite and the distances and
    /// linear residuals it enters NaN.
    #[serde(skip)]
    z_max: f64,
}

pub(super) fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let f = pos - lo as f64;
    sorted[lo] * (1.0 - f) + sorted[hi] * f
}

impl NumericEncoder {
    /// Fit on a column's training values: numbers, NaNs (a value of their
    /// own), and anything else (NULL) as missing.
    pub fn fit(values: &[Value<'_>]) -> Result<Self, SkipReason> {
        let nans = values
            .iter()
            .filter(|v| matches!(v, Value::Num(x) if x.is_nan()))
            .count();
        let mut xs: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
        let nulls = values.len() - xs.len() - nans;
        if xs.is_empty() {
            return Err(match (nans, nulls) {
                (0, _) => SkipReason::AllNull,
                (_, 0) => SkipReason::Constant,
                _ => SkipReason::NoNumbers,
            });
        }
        xs.sort_by(f64::total_cmp);
        let (first, last) = (xs[0], xs[xs.len() - 1]);
        if first == last && nulls == 0 && nans == 0 {
            return Err(SkipReason::Constant);
        }
        let median = quantile_sorted(&xs, 0.5);
        let iqr = quantile_sorted(&xs, 0.75) - quantile_sorted(&xs, 0.25);
        let mut scale = iqr / 1.349;
        if scale.is_nan() || scale <= 0.0 {
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            scale = var.sqrt();
        }
        if !(scale > 0.0 && scale.is_finite()) {
            scale = 1.0;
        }
        let grid = (0..GRID_POINTS)
            .map(|k| quantile_sorted(&xs, k as f64 / (GRID_POINTS - 1) as f64))
            .collect();
        // The density (and a time column's range) of the values within
        // `Z_MAX` robust units: a few beyond (1e308, the infinities) would
        // stretch its range over every ordinary value, which would then share
        // one cell, and an ordinary outlier would fall inside the range. They
        // score as the farthest values there are (`z`), as they would beyond it.
        let near: Vec<f64> = xs
            .iter()
            .copied()
            .filter(|&x| ((x - median) / scale).abs() <= Z_MAX)
            .collect();
        let density = Density::fit(if near.is_empty() { &xs } else { &near }, scale);
        Ok(Self::from_parts(
            median,
            scale,
            nulls as f64 / values.len() as f64,
            Some(nans as f64 / values.len() as f64),
            xs.len() as u64,
            grid,
            density,
        ))
    }

    /// An encoder from its stored parts (as fitted or decoded); `nan_rate`
    /// None for a model of formats 1 to 5.
    pub fn from_parts(
        median: f64,
        scale: f64,
        null_rate: f64,
        nan_rate: Option<f64>,
        count: u64,
        grid: Vec<f64>,
        density: Density,
    ) -> Self {
        let z_max = if nan_rate.is_some() { Z_MAX } else { f64::MAX };
        let mut e = NumericEncoder {
            median,
            scale,
            null_rate,
            nan_rate,
            count,
            grid,
            density: density.bounded(z_max),
            time: false,
            levels: Vec::new(),
            z_max,
        };
        e.levels = e
            .density
            .values
            .iter()
            .map(|&x| {
                let z = e.z(x);
                let input = (z as f32).clamp(-INPUT_CLIP, INPUT_CLIP);
                (input, soften(z), e.density.surprise(x))
            })
            .collect();
        e
    }

    /// The standardised value of `x`, (x - median) / scale, within
    /// `z_max` either side (NaN stays NaN). Every term a number enters
    /// reads it through here or through the density's equally bounded
    /// distance (`Density::surprise`), so no value makes a term infinite.
    #[inline]
    pub fn z(&self, x: f64) -> f64 {
        ((x - self.median) / self.scale).clamp(-self.z_max, self.z_max)
    }

    /// The looked-up parts of `x` when it is one of a discrete column's
    /// training levels, bit for bit (so -0.0 is not the level 0.0).
    #[inline]
    pub(super) fn level(&self, x: f64) -> Option<(f32, f32, f64)> {
        let i = self.density.level_index(x)?;
        let v = self.density.values[i];
        (v.to_bits() == x.to_bits()).then(|| self.levels[i])
    }

    /// `ColumnEncoder::encode_parts` of `x` when it is one of the column's
    /// training levels (then `fold` leaves it as it is: a level is within
    /// the training range), else None.
    #[inline(always)]
    pub(super) fn level_parts(&self, x: f64, out: &mut [f32]) -> Option<super::ValueParts> {
        let (input, knn_coord, marginal) = self.level(x)?;
        out[0] = input;
        if self.nullable() {
            out[1] = 0.0;
        }
        Some(super::ValueParts {
            target: Some(input),
            marginal,
            knn_coord,
        })
    }

    /// This encoder as a time column's (`time`) or not. The looked-up
    /// levels stay: training values are inside the range, where `fold`
    /// changes nothing.
    pub fn into_time(mut self, time: bool) -> Self {
        self.time = time;
        self
    }

    /// The value as scored: for a time column, a time within one training
    /// span (the slack) after
    /// the training range is taken as the range's end, and a later one keeps
    /// only its distance past the slack (so a date decades ahead is still
    /// evidence, and the fold is continuous). Only later times fold: rows
    /// arrive after training, and a time before every training row (a birth
    /// date in 1850, a default of 1970) keeps its distance. NaN and the
    /// infinities pass through.
    #[inline]
    pub fn fold(&self, x: f64) -> f64 {
        let (lo, hi) = (self.density.lo, self.density.hi);
        // The slack is the training span (none if it is not finite).
        let span = hi - lo;
        if self.time && x > hi && span.is_finite() {
            hi + (x - hi - span).max(0.0)
        } else {
            x
        }
    }

    /// The value of `v` as scored (`fold`); None for NULL and NaN.
    #[inline]
    pub fn value(&self, v: &Value<'_>) -> Option<f64> {
        v.as_f64().map(|x| self.fold(x))
    }

    /// Whether the network input has a missing flag: NULLs (or, from format
    /// 6 on, NaNs) occurred in training.
    pub fn nullable(&self) -> bool {
        self.null_rate > 0.0 || self.nan_rate.is_some_and(|r| r > 0.0)
    }

    /// Scaled, clipped value as the network sees it; None for NULL and NaN.
    pub fn scaled(&self, v: &Value<'_>) -> Option<f32> {
        self.value(v)
            .map(|x| (self.z(x) as f32).clamp(-INPUT_CLIP, INPUT_CLIP))
    }

    /// Scaled value with the tails compressed logarithmically beyond the clip
    /// instead of flattened, so far values stay farther: the kNN term's space.
    pub fn soft_scaled(&self, v: &Value<'_>) -> Option<f32> {
        self.value(v).map(|x| soften(self.z(x)))
    }

    /// How surprising the value is on its own: -ln of the level-set tail
    /// probability of its density (see `density`); -ln p of its smoothed
    /// training share for NULL, and from format 6 on for a NaN the column
    /// held in training (one it never held: the farthest value's surprise,
    /// see `nan_rate`).
    pub fn marginal(&self, v: &Value<'_>) -> f64 {
        match self.value(v) {
            Some(x) => self.density.surprise(x),
            None => {
                let rate = match (v, self.nan_rate) {
                    (Value::Num(x), Some(r)) if x.is_nan() => {
                        if r > 0.0 {
                            r
                        } else {
                            return self.density.farthest();
                        }
                    }
                    _ => self.null_rate,
                };
                let nan = self.nan_rate.unwrap_or(0.0);
                let n = self.count as f64 / (1.0 - self.null_rate - nan).max(1e-12);
                let p = (rate * n + 0.5) / (n + 1.0);
                -p.ln()
            }
        }
    }
}

/// `soft_scaled` of a scaled value `z`.
pub(super) fn soften(z: f64) -> f32 {
    let c = INPUT_CLIP as f64;
    let s = if z.abs() > c {
        z.signum() * (c + (1.0 + z.abs() - c).ln())
    } else {
        z
    };
    s as f32
}
