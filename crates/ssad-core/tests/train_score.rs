//! End-to-end core tests: train on synthetic tables with planted anomalies,
//! score, explain, round-trip through the codec.

use ssad_core::metrics::auroc;
use ssad_core::rng::Rng;
use ssad_core::{
    codec, thread_pool, train, ColumnSpec, CoreError, Event, Model, TrainOptions, TrainReport,
    Value,
};

/// Train on numeric columns c0..c(d-1), ignoring progress events.
fn fit(
    d: usize,
    rows: &[Vec<Value<'static>>],
    opts: &TrainOptions,
    pool: &rayon::ThreadPool,
) -> (Model, TrainReport) {
    train(&ColumnSpec::numbered("c", d), rows, opts, pool, &mut |_| {
        true
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Rows on a 2-D latent manifold embedded in 6 columns; anomalies break the
/// relations between columns while each value stays in its normal range.
fn correlated_table(n: usize, n_anom: usize, seed: u64) -> (Vec<Vec<Value<'static>>>, Vec<bool>) {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let (a, b) = (rng.normal(), rng.normal());
        let mut r = vec![a, b, a + b, a - b, 2.0 * a + 0.5 * b, -b];
        for v in r.iter_mut() {
            *v += 0.05 * rng.normal();
        }
        let anomalous = i < n_anom;
        if anomalous {
            // Shuffle the values between columns: marginals stay plausible.
            r.swap(0, 2);
            r[4] = -r[4];
        }
        rows.push(r.into_iter().map(Value::Num).collect());
        labels.push(anomalous);
    }
    (rows, labels)
}

fn quick() -> TrainOptions {
    TrainOptions {
        seed: Some(7),
        ..Default::default()
    }
}

#[test]
fn finds_planted_anomalies() {
    let (rows, labels) = correlated_table(2000, 40, 1);
    let pool = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let mut epochs = 0;
    let (model, report) = train(
        &ColumnSpec::numbered("c", 6),
        &rows,
        &quick(),
        &pool,
        &mut |e| {
            if let Event::Epoch { .. } = e {
                epochs += 1;
            }
            true
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(epochs, report.options.epochs);
    assert_eq!(report.rows_used, 2000);
    assert!(report.final_loss.is_finite());
    let mut s = model.scratch();
    let scores: Vec<f64> = rows
        .iter()
        .map(|r| model.score(r, &mut s).unwrap_or(f64::NAN))
        .collect();
    let a = auroc(&scores, &labels).unwrap_or(0.0);
    assert!(a > 0.9, "AUROC {a}");
    // Training quantiles: a typical row sits mid-range, the top anomaly near 1.
    let top = scores.iter().cloned().fold(f64::MIN, f64::max);
    assert!(model.quantile(top) > 0.95);
}

#[test]
fn contributions_sum_to_score_and_point_at_broken_columns() {
    let (rows, _) = correlated_table(1500, 30, 2);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (model, _) = fit(6, &rows, &quick(), &pool);
    let mut s = model.scratch();
    let score = model.score(&rows[0], &mut s).unwrap_or(f64::NAN);
    let parts = model.explain(&rows[0], &mut s).unwrap_or_default();
    let sum: f64 = parts.iter().map(|c| c.contribution).sum();
    assert!((sum - score).abs() < 1e-9, "{sum} vs {score}");
    let top = parts
        .iter()
        .max_by(|a, b| a.contribution.total_cmp(&b.contribution))
        .map(|c| c.column)
        .unwrap_or(99);
    assert!([0, 2, 4].contains(&top), "top column {top}");
}

#[test]
fn same_seed_same_model_regardless_of_threads() {
    let (rows, _) = correlated_table(600, 10, 3);
    let p1 = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let p2 = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let (m1, _) = fit(6, &rows, &quick(), &p1);
    let (m2, _) = fit(6, &rows, &quick(), &p2);
    assert_eq!(codec::encode(&m1), codec::encode(&m2));
    let other = TrainOptions {
        seed: Some(8),
        ..quick()
    };
    let (m3, _) = fit(6, &rows, &other, &p1);
    assert_ne!(codec::encode(&m1), codec::encode(&m3));
}

#[test]
fn codec_round_trip_scores_identically() {
    let (rows, _) = correlated_table(500, 5, 4);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (m, _) = fit(6, &rows, &quick(), &pool);
    let bytes = codec::encode(&m);
    let back = codec::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, m);
    let (mut s1, mut s2) = (m.scratch(), back.scratch());
    for r in rows.iter().take(50) {
        assert_eq!(m.score(r, &mut s1), back.score(r, &mut s2));
    }
}

#[test]
fn codec_rejects_damage() {
    let (rows, _) = correlated_table(300, 5, 5);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (m, _) = fit(6, &rows, &quick(), &pool);
    let bytes = codec::encode(&m);
    assert!(matches!(
        codec::decode(&bytes[..bytes.len() - 1]),
        Err(CoreError::CorruptModel(_))
    ));
    assert!(matches!(
        codec::decode(b"not a model at all"),
        Err(CoreError::CorruptModel(_))
    ));
    let mut flipped = bytes.clone();
    flipped[40] ^= 0x10;
    assert!(matches!(
        codec::decode(&flipped),
        Err(CoreError::CorruptModel(_))
    ));
    let mut newer = bytes.clone();
    newer[8] = 99;
    assert!(matches!(
        codec::decode(&newer),
        Err(CoreError::UnsupportedFormat { found: 99, .. })
    ));
}

#[test]
fn skips_constant_and_null_columns_and_handles_nulls() {
    let mut rng = Rng::new(6);
    let rows: Vec<Vec<Value<'static>>> = (0..200)
        .map(|i| {
            let a = rng.normal();
            vec![
                Value::Num(a),
                Value::Num(5.0),
                Value::Null,
                if i % 10 == 0 {
                    Value::Null
                } else {
                    Value::Num(2.0 * a)
                },
            ]
        })
        .collect();
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (m, report) = fit(4, &rows, &quick(), &pool);
    assert_eq!(report.used_columns, vec!["c0", "c3"]);
    assert_eq!(
        report.skipped_columns,
        vec![
            ("c1".to_string(), "constant"),
            ("c2".to_string(), "entirely NULL")
        ]
    );
    let mut s = m.scratch();
    let normal = m
        .score(&[Value::Num(0.5), Value::Num(1.0)], &mut s)
        .unwrap_or(f64::NAN);
    let broken = m
        .score(&[Value::Num(0.5), Value::Num(-3.0)], &mut s)
        .unwrap_or(f64::NAN);
    let null = m
        .score(&[Value::Num(0.5), Value::Null], &mut s)
        .unwrap_or(f64::NAN);
    assert!(normal.is_finite() && broken.is_finite() && null.is_finite());
    assert!(broken > normal, "{broken} <= {normal}");
    assert!(matches!(
        m.score(&[Value::Num(1.0)], &mut s),
        Err(CoreError::RowMismatch(_))
    ));
}

#[test]
fn errors_on_too_little_data_and_cancel() {
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<Vec<Value<'static>>> = (0..5).map(|i| vec![Value::Num(i as f64)]).collect();
    assert!(matches!(
        train(
            &ColumnSpec::numbered("c", 1),
            &rows,
            &quick(),
            &pool,
            &mut |_| true
        ),
        Err(CoreError::NotEnoughData(_))
    ));
    let one = vec![vec![Value::Num(1.0)]];
    let e = train(
        &ColumnSpec::numbered("c", 1),
        &one,
        &quick(),
        &pool,
        &mut |_| true,
    );
    assert!(
        matches!(&e, Err(CoreError::NotEnoughData(m)) if m == "1 row sampled, at least 10 are needed"),
        "{:?}",
        e.map(|_| ())
    );
    let (rows, _) = correlated_table(300, 5, 9);
    let mut batches = 0;
    let r = train(
        &ColumnSpec::numbered("c", 6),
        &rows,
        &quick(),
        &pool,
        &mut |e| {
            if let Event::Batch { .. } = e {
                batches += 1;
            }
            batches < 3
        },
    );
    assert_eq!(r.err(), Some(CoreError::Cancelled));
}
