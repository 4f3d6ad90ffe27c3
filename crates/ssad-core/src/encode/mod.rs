//! Per-column encoding fitted on the training sample: robust scaling for the
//! network, an empirical CDF for the marginal ("surprising on its own") term.
//! The statistics are stored with the model and serve drift checks too.
//! Numeric and time columns in `numeric`, categorical ones in `categorical`,
//! `ColumnEncoder` over both.

pub mod categorical;
mod numeric;
mod skip;

pub use categorical::CategoricalEncoder;
use numeric::soften;
pub use numeric::{NumericEncoder, GRID_POINTS, INPUT_CLIP, Z_MAX};
pub use skip::SkipReason;

use crate::schema::{ColumnKind, Value};
use serde::Serialize;

/// What scoring needs of one value besides its network input: the
/// prediction target, the marginal term and the kNN coordinate.
#[derive(Clone, Copy, Debug)]
pub struct ValueParts {
    pub target: Option<f32>,
    pub marginal: f64,
    pub knn_coord: f32,
}

/// The encoder of one model column.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ColumnEncoder {
    Numeric(NumericEncoder),
    Categorical(CategoricalEncoder),
}

/// Huber loss and its derivative: quadratic near the target, linear beyond
/// `HUBER_DELTA`, so a few wild training values do not dominate the fit.
pub const HUBER_DELTA: f32 = 1.0;

fn huber(diff: f32) -> (f32, f32) {
    if diff.abs() <= HUBER_DELTA {
        (0.5 * diff * diff, diff)
    } else {
        (
            HUBER_DELTA * (diff.abs() - 0.5 * HUBER_DELTA),
            HUBER_DELTA * diff.signum(),
        )
    }
}

/// Log-sum-exp of logits, stable for large values.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + logits.iter().map(|&l| (l - m).exp()).sum::<f32>().ln()
}

impl ColumnEncoder {
    pub fn fit(kind: ColumnKind, values: &[Value<'_>]) -> Result<Self, SkipReason> {
        match kind {
            ColumnKind::Numeric => NumericEncoder::fit(values).map(ColumnEncoder::Numeric),
            ColumnKind::Time => {
                NumericEncoder::fit(values).map(|e| ColumnEncoder::Numeric(e.into_time(true)))
            }
            ColumnKind::Categorical => {
                if values.iter().all(|v| matches!(v, Value::Null)) {
                    return Err(SkipReason::AllNull);
                }
                CategoricalEncoder::fit(values).map(ColumnEncoder::Categorical)
            }
        }
    }

    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnEncoder::Numeric(e) if e.time => ColumnKind::Time,
            ColumnEncoder::Numeric(_) => ColumnKind::Numeric,
            ColumnEncoder::Categorical(_) => ColumnKind::Categorical,
        }
    }

    /// Network input slots of this column (excluding its mask flag).
    pub fn in_width(&self) -> usize {
        match self {
            ColumnEncoder::Numeric(e) => 1 + usize::from(e.nullable()),
            ColumnEncoder::Categorical(e) => e.n_categories(),
        }
    }

    /// Network output slots predicting this column.
    pub fn out_width(&self) -> usize {
        match self {
            ColumnEncoder::Numeric(_) => 1,
            ColumnEncoder::Categorical(e) => e.n_categories(),
        }
    }

    /// Write the column's input slots (all of them: the caller's buffer is reused).
    pub fn encode_input(&self, v: &Value<'_>, out: &mut [f32]) {
        match self {
            ColumnEncoder::Numeric(e) => match e.scaled(v) {
                Some(z) => {
                    out[0] = z;
                    if e.nullable() {
                        out[1] = 0.0;
                    }
                }
                None => {
                    out[0] = 0.0;
                    if e.nullable() {
                        out[1] = 1.0;
                    }
                }
            },
            ColumnEncoder::Categorical(e) => {
                out.fill(0.0);
                out[e.index(v)] = 1.0;
            }
        }
    }

    /// `encode_input` into `out`, with `target`, `marginal` and `knn_coord`
    /// of the same value: the same bits as the four calls, with the value
    /// read, scaled and looked up once (per row and column of every score).
    #[inline(always)]
    pub fn encode_parts(&self, v: &Value<'_>, out: &mut [f32]) -> ValueParts {
        // A discrete column's training level (flags, codes, counts: most
        // cells of such tables) is looked up here, inlined into the row's
        // loop; the rest take the general path.
        if let (ColumnEncoder::Numeric(e), Value::Num(x)) = (self, v) {
            if let Some(parts) = e.level_parts(*x, out) {
                return parts;
            }
        }
        self.encode_parts_general(v, out)
    }

    #[inline(never)]
    fn encode_parts_general(&self, v: &Value<'_>, out: &mut [f32]) -> ValueParts {
        match self {
            ColumnEncoder::Numeric(e) => match e.value(v) {
                Some(x) => {
                    let (input, knn_coord, marginal) = e.level(x).unwrap_or_else(|| {
                        let z = e.z(x);
                        let input = (z as f32).clamp(-INPUT_CLIP, INPUT_CLIP);
                        (input, soften(z), e.density.surprise(x))
                    });
                    out[0] = input;
                    if e.nullable() {
                        out[1] = 0.0;
                    }
                    ValueParts {
                        target: Some(input),
                        marginal,
                        knn_coord,
                    }
                }
                None => {
                    out[0] = 0.0;
                    if e.nullable() {
                        out[1] = 1.0;
                    }
                    ValueParts {
                        target: None,
                        marginal: e.marginal(v),
                        knn_coord: 0.0,
                    }
                }
            },
            ColumnEncoder::Categorical(e) => {
                let i = e.index(v);
                out.fill(0.0);
                out[i] = 1.0;
                ValueParts {
                    target: Some(i as f32),
                    marginal: e.marginal(v),
                    knn_coord: 0.0,
                }
            }
        }
    }

    /// The value the network should reconstruct (a scaled number, or a class
    /// index as f32); None when there is nothing to predict.
    pub fn target(&self, v: &Value<'_>) -> Option<f32> {
        match self {
            ColumnEncoder::Numeric(e) => e.scaled(v),
            ColumnEncoder::Categorical(e) => Some(e.index(v) as f32),
        }
    }

    /// Prediction error of the column's output slots against a target:
    /// absolute error for numbers, cross-entropy (nats) for categories.
    pub fn error(&self, out: &[f32], target: f32) -> f32 {
        match self {
            ColumnEncoder::Numeric(_) => (out[0] - target).abs(),
            ColumnEncoder::Categorical(_) => log_sum_exp(out) - out[target as usize],
        }
    }

    /// Training loss of the output slots and its gradient into `grad`, both scaled by `w`.
    pub fn loss_grad(&self, out: &[f32], target: f32, w: f32, grad: &mut [f32]) -> f32 {
        match self {
            ColumnEncoder::Numeric(_) => {
                let (l, g) = huber(out[0] - target);
                grad[0] = g * w;
                l * w
            }
            ColumnEncoder::Categorical(_) => {
                let lse = log_sum_exp(out);
                let t = target as usize;
                for (k, (g, &o)) in grad.iter_mut().zip(out).enumerate() {
                    let p = (o - lse).exp();
                    *g = (p - if k == t { 1.0 } else { 0.0 }) * w;
                }
                (lse - out[t]) * w
            }
        }
    }

    /// Coordinate of the value in the kNN term's space (NULL at the median).
    /// Categories have no order: they take no part in the distance, their
    /// prediction and marginal terms carry them.
    pub fn knn_coord(&self, v: &Value<'_>) -> f32 {
        match self {
            ColumnEncoder::Numeric(e) => match e.value(v).and_then(|x| e.level(x)) {
                Some((_, knn, _)) => knn,
                None => e.soft_scaled(v).unwrap_or(0.0),
            },
            ColumnEncoder::Categorical(_) => 0.0,
        }
    }

    pub fn marginal(&self, v: &Value<'_>) -> f64 {
        match self {
            ColumnEncoder::Numeric(e) => e.marginal(v),
            ColumnEncoder::Categorical(e) => e.marginal(v),
        }
    }

    /// The expected value from summed output slots, for explanations: a number
    /// in the column's units, or the most likely category.
    pub fn expectation(&self, summed: &[f32], hits: u32) -> Expected {
        match self {
            ColumnEncoder::Numeric(e) => {
                Expected::Number(e.median + (summed[0] / hits.max(1) as f32) as f64 * e.scale)
            }
            ColumnEncoder::Categorical(e) => {
                let best = summed
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                match e.label(best) {
                    Some(l) => Expected::Category(l.to_string()),
                    None if best == e.null_index() => Expected::Null,
                    None => Expected::Other,
                }
            }
        }
    }
}

/// What the model expects for a column.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    Number(f64),
    Category(String),
    /// A value outside the kept vocabulary.
    Other,
    Null,
}

impl Expected {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Expected::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// Text form for explanations.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Expected::Number(x) => Some(format!("{x}")),
            Expected::Category(c) => Some(c.clone()),
            Expected::Other => Some("(other)".into()),
            Expected::Null => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(xs: &[f64]) -> Vec<Value<'static>> {
        xs.iter().map(|&x| Value::Num(x)).collect()
    }

    #[test]
    fn skips_constant_and_all_null() {
        assert_eq!(
            NumericEncoder::fit(&nums(&[3.0; 10])),
            Err(SkipReason::Constant)
        );
        assert_eq!(
            NumericEncoder::fit(&[Value::Null, Value::Null]),
            Err(SkipReason::AllNull)
        );
        // Constant values but some NULLs: the NULL pattern is information.
        assert!(NumericEncoder::fit(&[Value::Num(1.0), Value::Null]).is_ok());
    }

    #[test]
    fn robust_scale_ignores_outliers() {
        let mut xs: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        xs.push(1e9);
        let e = NumericEncoder::fit(&nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        assert!((e.median - 0.5).abs() < 0.01);
        assert!((e.scale - 0.5 / 1.349).abs() < 0.01, "{}", e.scale);
        assert_eq!(e.scaled(&Value::Num(1e9)), Some(INPUT_CLIP));
    }

    #[test]
    fn marginal_grows_towards_tails_and_beyond() {
        // A bell-shaped column: the bulk is ordinary, the tails and beyond are not.
        let xs: Vec<f64> = (0..2000)
            .map(|i| {
                let u = (i as f64 + 0.5) / 2000.0;
                (u / (1.0 - u)).ln()
            })
            .collect();
        let e = NumericEncoder::fit(&nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        let m = |x: f64| e.marginal(&Value::Num(x));
        assert!(m(0.0) < 0.05);
        assert!(m(0.0) < m(5.0));
        assert!(m(5.0) < m(7.0));
        assert!(m(7.6) < m(20.0));
        assert!(m(20.0) < m(50.0));
        assert!(m(50.0).is_finite());
        assert!((m(-5.0) - m(5.0)).abs() < 0.5);
    }

    #[test]
    fn null_is_surprising_when_never_seen() {
        let xs: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let e = NumericEncoder::fit(&nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        assert!(e.marginal(&Value::Null) > 4.0);
        let mut with_nulls = nums(&xs);
        with_nulls.extend(std::iter::repeat_n(Value::Null, 100));
        let e2 = NumericEncoder::fit(&with_nulls).unwrap_or_else(|_| panic!("fit"));
        assert!(e2.marginal(&Value::Null) < 1.0);
    }

    #[test]
    fn a_time_after_training_is_the_latest_time_within_one_span() {
        // Thirty days of times (seconds); the span is 30 days.
        let day = 86_400.0;
        let xs: Vec<f64> = (0..3000)
            .map(|i| 1.7e9 + (i % 30) as f64 * day + (i * 7) as f64)
            .collect();
        let hi = xs.iter().copied().fold(f64::MIN, f64::max);
        let lo = xs.iter().copied().fold(f64::MAX, f64::min);
        let time =
            ColumnEncoder::fit(ColumnKind::Time, &nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        let plain =
            ColumnEncoder::fit(ColumnKind::Numeric, &nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        assert_eq!(time.kind(), ColumnKind::Time);
        assert_eq!(plain.kind(), ColumnKind::Numeric);
        let parts = |e: &ColumnEncoder, x: f64| {
            let mut out = [0.0f32; 1];
            let p = e.encode_parts(&Value::Num(x), &mut out);
            (out[0], p.knn_coord, p.marginal)
        };
        // Inside the range the two encoders agree.
        for x in [lo, xs[17], hi] {
            let (a, b) = (parts(&time, x), parts(&plain, x));
            assert_eq!(
                (a.0.to_bits(), a.1.to_bits(), a.2.to_bits()),
                (b.0.to_bits(), b.1.to_bits(), b.2.to_bits())
            );
        }
        // A week after the range: the range's end. A week before it keeps
        // its distance, as an ordinary number does.
        let end = parts(&time, hi);
        assert_eq!(parts(&time, hi + 7.0 * day), end);
        assert!(parts(&plain, hi + 7.0 * day).2 > end.2 + 1.0);
        let before = (parts(&time, lo - 7.0 * day), parts(&plain, lo - 7.0 * day));
        assert_eq!((before.0).2.to_bits(), (before.1).2.to_bits());
        assert!((before.0).2 > parts(&time, lo).2 + 1.0);
        // Past the slack the distance counts again, from the range's end.
        let far = hi + (hi - lo) + 3650.0 * day;
        assert!(parts(&time, far).2 > end.2 + 10.0);
        let folded = parts(&time, far);
        let unfolded = parts(&plain, far - (hi - lo));
        assert_eq!(folded.2.to_bits(), unfolded.2.to_bits());
        // NaN and infinities pass through.
        let inf = (parts(&time, f64::INFINITY), parts(&plain, f64::INFINITY));
        assert_eq!((inf.0).2.to_bits(), (inf.1).2.to_bits());
        assert_eq!(time.target(&Value::Num(f64::NAN)), None);
    }

    #[test]
    fn nan_and_null_encode_as_missing() {
        let xs = nums(&[1.0, 2.0, 3.0, f64::NAN]);
        let enc = ColumnEncoder::fit(ColumnKind::Numeric, &xs).unwrap_or_else(|_| panic!("fit"));
        // A missing flag for the NaN, though no NULL occurred.
        assert_eq!(enc.in_width(), 2);
        for v in [Value::Null, Value::Num(f64::NAN)] {
            let mut out = [9.0f32; 2];
            enc.encode_input(&v, &mut out);
            assert_eq!(out, [0.0, 1.0]);
            assert_eq!(enc.target(&v), None);
            assert_eq!(enc.knn_coord(&v), 0.0);
        }
    }

    #[test]
    fn nan_is_scored_by_its_own_share() {
        // 80 numbers, 15 NULLs, 5 NaNs.
        let mut vals = nums(&(0..80).map(f64::from).collect::<Vec<_>>());
        vals.extend(std::iter::repeat_n(Value::Null, 15));
        vals.extend(nums(&[f64::NAN; 5]));
        let e = NumericEncoder::fit(&vals).unwrap_or_else(|_| panic!("fit"));
        assert_eq!((e.null_rate, e.nan_rate, e.count), (0.15, Some(0.05), 80));
        let want = |k: f64| -((k + 0.5) / 101.0f64).ln();
        assert!((e.marginal(&Value::Null) - want(15.0)).abs() < 1e-12);
        assert!((e.marginal(&Value::Num(f64::NAN)) - want(5.0)).abs() < 1e-12);
        // Never seen: NULL is as rare as a value never seen; NaN as the
        // farthest value (an infinity).
        let plain = NumericEncoder::fit(&nums(&(0..100).map(f64::from).collect::<Vec<_>>()))
            .unwrap_or_else(|_| panic!("fit"));
        assert_eq!(plain.nan_rate, Some(0.0));
        assert!((plain.marginal(&Value::Null) - want(0.0)).abs() < 1e-12);
        let nan = plain.marginal(&Value::Num(f64::NAN));
        assert_eq!(nan, plain.marginal(&Value::Num(f64::INFINITY)));
        assert!(nan > Z_MAX / 2.0, "{nan}");
        // Models of formats 1 to 5 read NaN as NULL.
        let old = NumericEncoder::from_parts(
            e.median,
            e.scale,
            0.2,
            None,
            80,
            e.grid.clone(),
            e.density.clone(),
        );
        let v = Value::Num(f64::NAN);
        assert_eq!(
            old.marginal(&v).to_bits(),
            old.marginal(&Value::Null).to_bits()
        );
    }

    #[test]
    fn values_near_f64_max_fit_finite_statistics() {
        // Most values at f64::MAX: the scale is what it can be, all finite.
        let mut xs = vec![1.0, 2.0];
        xs.extend([f64::MAX; 9]);
        let e = NumericEncoder::fit(&nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        let d = &e.density;
        for v in [e.median, e.scale, d.lo, d.hi].iter().chain(&e.grid) {
            assert!(v.is_finite(), "{e:?}");
        }
        // A few far values leave the density's range to the ordinary ones.
        let mut xs: Vec<f64> = (0..200).map(|i| f64::from(i) / 10.0).collect();
        xs.extend([f64::INFINITY, -1e308, 1e308, f64::MAX]);
        let e = NumericEncoder::fit(&nums(&xs)).unwrap_or_else(|_| panic!("fit"));
        assert_eq!((e.density.lo, e.density.hi, e.count), (0.0, 19.9, 204));
        assert!(e.marginal(&Value::Num(10.0)) < 0.1);
        assert!(e.marginal(&Value::Num(40.0)) > 10.0);
    }

    #[test]
    fn columns_without_numbers_are_skipped() {
        assert_eq!(
            NumericEncoder::fit(&nums(&[f64::NAN; 4])),
            Err(SkipReason::Constant)
        );
        let mut mixed = nums(&[f64::NAN; 4]);
        mixed.push(Value::Null);
        assert_eq!(NumericEncoder::fit(&mixed), Err(SkipReason::NoNumbers));
        // One value and NaNs: the NaN pattern is information.
        assert!(NumericEncoder::fit(&nums(&[2.0, 2.0, f64::NAN])).is_ok());
    }
}

#[cfg(test)]
mod parts_tests {
    use super::*;
    use crate::schema::text as t;

    /// `encode_parts` against the four calls it stands for, bit for bit.
    fn same_as_the_four_calls(enc: &ColumnEncoder, v: &Value<'_>) {
        let w = enc.in_width();
        let (mut a, mut b) = (vec![7.0f32; w], vec![7.0f32; w]);
        let p = enc.encode_parts(v, &mut a);
        enc.encode_input(v, &mut b);
        let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{v:?}");
        assert_eq!(p.target.map(f32::to_bits), enc.target(v).map(f32::to_bits));
        assert_eq!(p.marginal.to_bits(), enc.marginal(v).to_bits(), "{v:?}");
        assert_eq!(p.knn_coord.to_bits(), enc.knn_coord(v).to_bits(), "{v:?}");
        // A discrete column's looked-up levels against the arithmetic itself.
        if let ColumnEncoder::Numeric(e) = enc {
            let soft = e.soft_scaled(v).unwrap_or(0.0);
            assert_eq!(p.knn_coord.to_bits(), soft.to_bits(), "{v:?}");
        }
    }

    #[test]
    fn encode_parts_is_the_four_calls_in_one() {
        // A heavy-tailed numeric column with NULLs, and a discrete one.
        let mut xs: Vec<Value<'static>> = (0..500)
            .map(|i| Value::Num(((i as f64) / 50.0).exp() - 1.0))
            .collect();
        xs.extend((0..20).map(|_| Value::Null));
        let cont = ColumnEncoder::fit(ColumnKind::Numeric, &xs).unwrap_or_else(|_| panic!("fit"));
        let mut levels: Vec<Value<'static>> =
            (0..300).map(|i| Value::Num((i % 4) as f64 - 1.0)).collect();
        levels.extend([Value::Num(0.3), Value::Num(1e4)]);
        let disc =
            ColumnEncoder::fit(ColumnKind::Numeric, &levels).unwrap_or_else(|_| panic!("fit"));
        let probes = [
            Value::Null,
            Value::Num(0.0),
            Value::Num(2.0),
            Value::Num(2.5),
            Value::Num(-1e6),
            Value::Num(1e300),
            Value::Num(f64::INFINITY),
            Value::Num(f64::NAN),
            Value::Num(-0.0),
            Value::Num(-1.0),
            Value::Num(1.0),
            Value::Num(0.3),
            Value::Num(1e4),
        ];
        for v in &probes {
            same_as_the_four_calls(&cont, v);
            same_as_the_four_calls(&disc, v);
        }
        let words = vec![t("a"), t("b"), t("a"), Value::Null, t("c")];
        let cat =
            ColumnEncoder::fit(ColumnKind::Categorical, &words).unwrap_or_else(|_| panic!("fit"));
        for v in [
            t("a"),
            t("c"),
            t("never seen"),
            Value::Null,
            Value::Num(1.0),
        ] {
            same_as_the_four_calls(&cat, &v);
        }
    }

    /// `encode_parts` is the four calls in one on any fitted column (a few
    /// discrete levels or a continuous, heavy-tailed spread; NULLs) and any
    /// value (every f64, NaN and infinities included; NULL; a training value).
    #[test]
    fn encode_parts_is_the_four_calls_on_any_column_and_value() {
        use proptest::prelude::*;
        let columns = (
            proptest::option::of(1usize..8),
            proptest::collection::vec(-1e3f64..1e3, 5..200),
            0.0f64..0.5,
        );
        let probes = proptest::collection::vec(any::<f64>(), 1..20);
        crate::prop_check::check(256, (columns, probes), |((levels, xs, nulls), probes)| {
            let train: Vec<Value<'static>> = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| match levels {
                    _ if (i as f64 / xs.len() as f64) < nulls => Value::Null,
                    Some(k) => Value::Num((x.abs() as usize % k) as f64),
                    None => Value::Num(x.signum() * (x.abs() / 100.0).exp()),
                })
                .collect();
            let Ok(enc) = ColumnEncoder::fit(ColumnKind::Numeric, &train) else {
                return Ok(());
            };
            for v in probes
                .iter()
                .map(|&x| Value::Num(x))
                .chain(train.iter().take(5).cloned())
            {
                same_as_the_four_calls(&enc, &v);
            }
            same_as_the_four_calls(&enc, &Value::Null);
            Ok(())
        });
    }
}

#[cfg(test)]
mod categorical_tests {
    use super::*;
    use crate::schema::text as t;

    #[test]
    fn one_hot_input_and_class_target() {
        // Each value seen twice: the least a category needs in a small table.
        let vals = vec![t("a"), t("b"), t("a"), t("b"), Value::Null];
        let enc =
            ColumnEncoder::fit(ColumnKind::Categorical, &vals).unwrap_or_else(|_| panic!("fit"));
        assert_eq!(enc.in_width(), 4); // a, b, other, NULL
        let mut x = [9.0f32; 4];
        enc.encode_input(&t("b"), &mut x);
        assert_eq!(x, [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(enc.target(&Value::Null), Some(3.0));
        assert_eq!(enc.target(&t("zzz")), Some(2.0));
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let vals = vec![t("a"), t("b"), t("c"), t("a"), t("b"), t("c")];
        let enc =
            ColumnEncoder::fit(ColumnKind::Categorical, &vals).unwrap_or_else(|_| panic!("fit"));
        let out = [0.3f32, -1.2, 2.0, 0.1, -0.4];
        let mut g = [0.0f32; 5];
        let l = enc.loss_grad(&out, 1.0, 1.0, &mut g);
        assert!((l - enc.error(&out, 1.0)).abs() < 1e-6);
        for k in 0..5 {
            let mut o2 = out;
            o2[k] += 1e-3;
            let num = (enc.error(&o2, 1.0) - l) / 1e-3;
            assert!((num - g[k]).abs() < 1e-2, "{k}: {num} vs {}", g[k]);
        }
    }

    #[test]
    fn identifiers_are_skipped_as_such() {
        let ids: Vec<Value<'static>> = (0..500).map(|i| t(&format!("id{i}"))).collect();
        assert_eq!(
            ColumnEncoder::fit(ColumnKind::Categorical, &ids),
            Err(SkipReason::NoRepeats)
        );
    }

    #[test]
    fn constant_and_null_categories_are_skipped() {
        assert_eq!(
            ColumnEncoder::fit(ColumnKind::Categorical, &[t("a"), t("a")]),
            Err(SkipReason::Constant)
        );
        assert_eq!(
            ColumnEncoder::fit(ColumnKind::Categorical, &[Value::Null]),
            Err(SkipReason::AllNull)
        );
    }

    #[test]
    fn expectation_names_the_likely_category() {
        let vals = vec![t("a"), t("b"), t("a"), t("b")];
        let enc =
            ColumnEncoder::fit(ColumnKind::Categorical, &vals).unwrap_or_else(|_| panic!("fit"));
        assert_eq!(
            enc.expectation(&[0.1, 3.0, 0.0, 0.0], 1),
            Expected::Category("b".into())
        );
        assert_eq!(enc.expectation(&[0.1, 0.0, 0.0, 5.0], 1), Expected::Null);
    }
}
