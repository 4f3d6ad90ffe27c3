//! Extreme values and NaN: under a model trained on ordinary values, a
//! number far beyond f64's ordinary range (+-1e308, +-f64::MAX, the
//! infinities) in a numeric or a time column scores a finite number, at
//! least as high as an ordinary far outlier's, the same bits through the
//! one-row and the batch path, and as high as an infinity (the standardised
//! value saturates); explanations and embeddings stay finite. Tiny and
//! signed-zero values (f64::MIN_POSITIVE, -0.0) are ordinary numbers. A NaN
//! is a value of its own: flagged where the column never held one, ordinary
//! where it often did. A table whose number columns hold a few such values
//! trains to finite parameters, and its ordinary outliers stay evidence.

use ssad_core::rng::Rng;
use ssad_core::schema::Value;
use ssad_core::{thread_pool, train, ColumnKind, ColumnSpec, Model, TrainOptions};
use std::borrow::Cow;

/// The model's columns: `x` numeric (10 +- 3), `narrow` numeric (spread
/// 0.01: 1e308 is beyond f64 in its robust units), `level` numeric of four
/// levels, `t` a time column (hourly epochs), `k` categorical.
fn specs() -> Vec<ColumnSpec> {
    let s = |n: &str, kind| ColumnSpec {
        name: n.into(),
        kind,
    };
    vec![
        s("x", ColumnKind::Numeric),
        s("narrow", ColumnKind::Numeric),
        s("level", ColumnKind::Numeric),
        s("t", ColumnKind::Time),
        s("k", ColumnKind::Categorical),
    ]
}

/// Columns `extreme_values_*` sets to extreme values: every number column.
const NUMBER_COLUMNS: [usize; 4] = [0, 1, 2, 3];

fn rows(n: usize, seed: u64) -> Vec<Vec<Value<'static>>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let a = rng.normal();
            vec![
                Value::Num(10.0 + 3.0 * a),
                Value::Num(0.01 * a + 0.002 * rng.normal()),
                Value::Num((i % 4) as f64),
                Value::Num(1.7e9 + i as f64 * 3600.0),
                Value::Text(Cow::Borrowed(["a", "b", "c"][(a.abs() * 2.0) as usize % 3])),
            ]
        })
        .collect()
}

fn model(distill: bool) -> (Model, Vec<Vec<Value<'static>>>) {
    let data = rows(600, 3);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let opts = TrainOptions {
        epochs: Some(4),
        distill: Some(distill),
        ..Default::default()
    };
    let (m, _) =
        train(&specs(), &data, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    (m, data)
}

/// Scores through the one-row path, checked against the batch path bit for bit.
fn scores(m: &Model, rows: &[Vec<Value<'static>>]) -> Vec<f64> {
    let pool = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let mut s = m.scratch();
    let one: Vec<f64> = rows
        .iter()
        .map(|r| m.score(r, &mut s).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let batch = m.score_batch(rows, &pool).unwrap_or_else(|e| panic!("{e}"));
    for (i, (a, b)) in one.iter().zip(&batch).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "row {i}: one-row {a} vs batch {b}"
        );
    }
    one
}

/// `base` with column `c` set to `v`.
fn with(base: &[Value<'static>], c: usize, v: f64) -> Vec<Value<'static>> {
    let mut r = base.to_vec();
    r[c] = Value::Num(v);
    r
}

/// An ordinary far outlier of column `c`: 50 robust units below its median
/// (below: a time column folds later times into its range).
fn far_outlier(m: &Model, c: usize) -> f64 {
    match &m.encoders[c] {
        ssad_core::encode::ColumnEncoder::Numeric(e) => e.median - 50.0 * e.scale,
        ssad_core::encode::ColumnEncoder::Categorical(_) => panic!("not a number column"),
    }
}

const HUGE: [f64; 6] = [
    1e308,
    -1e308,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    f64::MIN,
];

#[test]
fn extreme_values_score_finite_and_at_least_as_high_as_a_far_outlier() {
    for distill in [true, false] {
        let (m, data) = model(distill);
        assert_eq!(m.columns.len(), specs().len());
        let base = &data[7];
        let ordinary = scores(&m, &data[..200]);
        assert!(ordinary.iter().all(|v| v.is_finite() && *v >= 0.0));
        for c in NUMBER_COLUMNS {
            let far = scores(&m, &[with(base, c, far_outlier(&m, c))])[0];
            assert!(far > ordinary[7], "col {c}: far outlier {far}");
            let probe: Vec<Vec<Value<'static>>> = HUGE
                .iter()
                .chain(&[f64::MIN_POSITIVE, -0.0, 0.0])
                .map(|&v| with(base, c, v))
                .collect();
            let got = scores(&m, &probe);
            for (v, s) in HUGE.iter().zip(&got) {
                assert!(s.is_finite(), "col {c} value {v}: {s} (distill {distill})");
                assert!(
                    *s >= far,
                    "col {c} value {v}: {s} below a far outlier's {far}"
                );
            }
            // Tiny values and signed zeros are ordinary numbers.
            for s in &got[HUGE.len()..] {
                assert!(s.is_finite() && *s >= 0.0, "col {c}: {s}");
            }
            // Explanations and embeddings of every probe: finite.
            let mut s = m.scratch();
            for r in &probe {
                let c = m.explain(r, &mut s).unwrap_or_else(|e| panic!("{e}"));
                for t in &c {
                    for v in [
                        t.contribution,
                        t.prediction_term,
                        t.marginal_term,
                        t.knn_term,
                    ] {
                        assert!(v.is_finite(), "{r:?}: {t:?}");
                    }
                }
                let e = m.embed(r).unwrap_or_else(|e| panic!("{e}"));
                assert!(e.iter().all(|v| v.is_finite()), "{r:?}: {e:?}");
            }
        }
        // Every number column at once.
        for &v in &HUGE {
            let mut r = base.clone();
            for c in NUMBER_COLUMNS {
                r[c] = Value::Num(v);
            }
            let s = scores(&m, &[r])[0];
            assert!(s.is_finite() && s > ordinary[7], "all columns {v}: {s}");
        }
    }
}

#[test]
fn farther_values_score_no_lower() {
    let (m, data) = model(true);
    let base = &data[11];
    for c in [0usize, 1] {
        let e = match &m.encoders[c] {
            ssad_core::encode::ColumnEncoder::Numeric(e) => e,
            ssad_core::encode::ColumnEncoder::Categorical(_) => panic!("not numeric"),
        };
        for sign in [1.0, -1.0] {
            let ladder: Vec<Vec<Value<'static>>> = [50.0, 1e6, 1e12]
                .iter()
                .map(|k| e.median + sign * k * e.scale)
                .chain([sign * 1e300, sign * 1e308, sign * f64::MAX])
                .map(|v| with(base, c, v))
                .collect();
            let got = scores(&m, &ladder);
            assert!(
                got.windows(2).all(|w| w[0] <= w[1]),
                "col {c} sign {sign}: {got:?}"
            );
        }
    }
}

#[test]
fn values_beyond_the_saturation_score_as_an_infinity() {
    let (m, data) = model(true);
    let base = &data[5];
    for c in NUMBER_COLUMNS {
        let e = match &m.encoders[c] {
            ssad_core::encode::ColumnEncoder::Numeric(e) => e,
            ssad_core::encode::ColumnEncoder::Categorical(_) => panic!("not numeric"),
        };
        assert_eq!(e.nan_rate, Some(0.0));
        for sign in [1.0, -1.0] {
            let beyond = e.median + sign * 2.0 * ssad_core::encode::Z_MAX * e.scale;
            let alike: Vec<Vec<Value<'static>>> =
                [sign * f64::INFINITY, sign * 1e308, sign * f64::MAX, beyond]
                    .iter()
                    .map(|&v| with(base, c, v))
                    .collect();
            let got = scores(&m, &alike);
            assert!(
                got.iter().all(|v| v.to_bits() == got[0].to_bits()),
                "col {c} sign {sign}: {got:?}"
            );
            assert!(got[0].is_finite() && m.quantile(got[0]) == 1.0);
        }
    }
}

/// `data` with column `c` NaN in every `every`-th row.
fn with_nans(data: &[Vec<Value<'static>>], c: usize, every: usize) -> Vec<Vec<Value<'static>>> {
    data.iter()
        .enumerate()
        .map(|(i, r)| {
            if i % every == 0 {
                with(r, c, f64::NAN)
            } else {
                r.clone()
            }
        })
        .collect()
}

#[test]
fn a_nan_never_seen_is_flagged_and_a_common_one_is_ordinary() {
    for distill in [true, false] {
        let (m, data) = model(distill);
        let p99 = m.score_quantiles[99];
        for c in NUMBER_COLUMNS {
            // Every row, whatever its other values: above the 99th percentile.
            let nan_rows = with_nans(&data[..200], c, 1);
            for (i, s) in scores(&m, &nan_rows).into_iter().enumerate() {
                assert!(
                    s.is_finite() && s > p99,
                    "col {c} row {i}: {s} <= p99 {p99}"
                );
                assert!(m.quantile(s) > 0.99);
            }
        }
    }
    // A column that is NaN in a fifth of the training rows: a NaN there is
    // ordinary (its marginal term is within the hinge), a NULL never seen is not.
    let data = with_nans(&rows(600, 3), 0, 5);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let opts = TrainOptions {
        epochs: Some(4),
        ..Default::default()
    };
    let (m, _) =
        train(&specs(), &data, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    let e = match &m.encoders[0] {
        ssad_core::encode::ColumnEncoder::Numeric(e) => e,
        ssad_core::encode::ColumnEncoder::Categorical(_) => panic!("not numeric"),
    };
    assert!((e.nan_rate.unwrap_or(0.0) - 0.2).abs() < 1e-12 && e.null_rate == 0.0);
    let nan_rows: Vec<Vec<Value<'static>>> = data.iter().step_by(5).cloned().collect();
    let got = scores(&m, &nan_rows);
    let mut q: Vec<f64> = got.iter().map(|&s| m.quantile(s)).collect();
    q.sort_by(f64::total_cmp);
    assert!(
        q[q.len() / 2] < 0.9,
        "median quantile of NaN rows {}",
        q[q.len() / 2]
    );
    let flagged = q.iter().filter(|&&v| v > 0.99).count();
    assert!(
        flagged * 20 <= q.len(),
        "{flagged} of {} NaN rows flagged",
        q.len()
    );
    let mut s = m.scratch();
    let row = &data[1];
    let marginal = |r: &[Value<'static>], s: &mut ssad_core::Scratch| {
        m.explain(r, s).unwrap_or_else(|e| panic!("{e}"))[0].marginal_term
    };
    // Within the hinge: only the small-table tail term at the median's coordinate.
    assert!(marginal(&with(row, 0, f64::NAN), &mut s) < 0.5);
    let mut null = row.clone();
    null[0] = Value::Null;
    assert!(marginal(&null, &mut s) > 2.0);
}

/// Every stored parameter of `m` a finite number.
fn parameters_are_finite(m: &Model) -> Result<(), String> {
    use ssad_core::encode::ColumnEncoder;
    fn fin(what: &str, v: impl IntoIterator<Item = f64>) -> Result<(), String> {
        match v.into_iter().find(|x| !x.is_finite()) {
            Some(x) => Err(format!("{what}: {x}")),
            None => Ok(()),
        }
    }
    for (c, e) in m.columns.iter().zip(&m.encoders) {
        if let ColumnEncoder::Numeric(e) = e {
            let scalars = [e.median, e.scale, e.null_rate, e.nan_rate.unwrap_or(0.0)];
            let d = &e.density;
            let bounds = [d.lo, d.hi, d.scale];
            fin(
                &c.name,
                scalars
                    .into_iter()
                    .chain(bounds)
                    .chain(e.grid.iter().copied())
                    .chain(d.values.iter().copied()),
            )?;
        }
    }
    let f32s = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    for (i, l) in m.net.layers.iter().enumerate() {
        fin(
            &format!("layer {i}"),
            f32s(&l.w).into_iter().chain(f32s(&l.b)),
        )?;
    }
    if let Some(st) = &m.student {
        for l in &st.net.layers {
            fin("student", f32s(&l.w).into_iter().chain(f32s(&l.b)))?;
        }
    }
    fin("reference", f32s(&m.reference.rows))?;
    if let Some(l) = &m.linear {
        fin("linear", f32s(&l.w).into_iter().chain(f32s(&l.b)))?;
    }
    if let Some(t) = &m.tails {
        for c in t.columns.iter().flatten() {
            fin("tails", f32s(&c.sorted))?;
        }
    }
    fin("quantiles", m.score_quantiles.iter().copied())?;
    fin(
        "norms",
        f32s(&m.err_norm).into_iter().chain(f32s(&m.marg_norm)),
    )
}

#[test]
fn columns_holding_extreme_values_train_to_finite_parameters() {
    let extremes = [f64::INFINITY, f64::NEG_INFINITY, 1e308, -1e308, f64::MAX];
    for distill in [true, false] {
        let mut data = rows(600, 3);
        // Two rows in a hundred of every number column hold an extreme value
        // (the glue reads a numeric beyond float8's range as an infinity).
        for (i, r) in data.iter_mut().enumerate() {
            for c in NUMBER_COLUMNS {
                if (i + 7 * c) % 50 == 0 {
                    r[c] = Value::Num(extremes[(i / 50 + c) % extremes.len()]);
                }
            }
        }
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            epochs: Some(4),
            distill: Some(distill),
            ..Default::default()
        };
        let (m, report) =
            train(&specs(), &data, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.used_columns.len(), specs().len());
        if let Err(e) = parameters_are_finite(&m) {
            panic!("distill {distill}: {e}");
        }
        // Ordinary rows score finite numbers, few above the 99th percentile.
        let ordinary: Vec<Vec<Value<'static>>> = rows(600, 3)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| NUMBER_COLUMNS.iter().all(|c| (i + 7 * c) % 50 != 0))
            .map(|(_, r)| r)
            .collect();
        let got = scores(&m, &ordinary);
        assert!(got.iter().all(|s| s.is_finite() && *s >= 0.0));
        let above = got.iter().filter(|&&s| m.quantile(s) > 0.99).count();
        assert!(
            above * 50 <= got.len(),
            "{above} of {} ordinary rows flagged",
            got.len()
        );
        // The extreme rows themselves score finite numbers, and an ordinary
        // far outlier of each column is still evidence: above every ordinary
        // row (the extreme rows, 8% of the table, hold the top quantiles).
        assert!(scores(&m, &data).iter().all(|s| s.is_finite()));
        // Its marginal term too: the density's range is that of the ordinary
        // values, not stretched over them by the extreme ones.
        let top = got.iter().copied().fold(0.0, f64::max);
        let mut s = m.scratch();
        for c in NUMBER_COLUMNS {
            let row = with(&ordinary[3], c, far_outlier(&m, c));
            let far = scores(&m, std::slice::from_ref(&row))[0];
            assert!(
                far > top,
                "col {c}: a far outlier's {far}, an ordinary row's {top}"
            );
            let e = m.explain(&row, &mut s).unwrap_or_else(|e| panic!("{e}"));
            assert!(e[c].marginal_term > 20.0, "col {c}: {:?}", e[c]);
        }
    }
}
