//! Mixed column kinds: categories steer numbers, time parts are categories,
//! unseen values are evidence; all through the codec.

use ssad_core::metrics::auroc;
use ssad_core::rng::Rng;
use ssad_core::time::{day_value, hour_value};
use ssad_core::{codec, thread_pool, train, ColumnKind, ColumnSpec, Expected, TrainOptions, Value};
use std::borrow::Cow;

fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        kind,
    }
}

fn text(s: &str) -> Value<'static> {
    Value::Text(Cow::Owned(s.to_string()))
}

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

/// Payments: the region sets the amount's level, business hours on weekdays.
/// Anomalies: an amount of another region's level, or a 3 a.m. Sunday payment.
fn payments(n: usize, seed: u64) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>, Vec<bool>) {
    let specs = vec![
        spec("region", ColumnKind::Categorical),
        spec("amount", ColumnKind::Numeric),
        spec("paid_at", ColumnKind::Numeric),
        spec("paid_at#hour", ColumnKind::Categorical),
        spec("paid_at#dow", ColumnKind::Categorical),
    ];
    let mut rng = Rng::new(seed);
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    let monday = 1_795_392_000.0; // 2026-11-23 00:00 UTC, a Monday
    for i in 0..n {
        let r = rng.below(4) as usize;
        let mut amount = 100.0 * (r as f64 + 1.0) + 5.0 * rng.normal();
        let day = rng.below(5) as f64;
        let hour = 9.0 + rng.below(8) as f64;
        let mut t = monday + day * 86_400.0 + hour * 3600.0 + rng.below(3600) as f64;
        let anomalous = i % 100 == 0;
        if anomalous {
            if i % 200 == 0 {
                amount = 100.0 * (((r + 2) % 4) as f64 + 1.0);
            } else {
                t = monday + 6.0 * 86_400.0 + 3.0 * 3600.0;
            }
        }
        rows.push(vec![
            text(REGIONS[r]),
            Value::Num(amount),
            Value::Num(t),
            hour_value(Some(t)),
            day_value(Some(t)),
        ]);
        labels.push(anomalous);
    }
    (specs, rows, labels)
}

#[test]
fn categories_and_time_parts_find_their_anomalies() {
    let (specs, rows, labels) = payments(3000, 1);
    let pool = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let opts = TrainOptions {
        seed: Some(3),
        ..Default::default()
    };
    let (model, report) =
        train(&specs, &rows, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.used_columns.len(), 5);
    let mut s = model.scratch();
    let scores: Vec<f64> = rows
        .iter()
        .map(|r| model.score(r, &mut s).unwrap_or(f64::NAN))
        .collect();
    let a = auroc(&scores, &labels).unwrap_or(0.0);
    assert!(a > 0.95, "AUROC {a}");
    // An unseen region is scored, higher than a typical row.
    let mut odd = rows[1].clone();
    let typical = model.score(&odd, &mut s).unwrap_or(f64::NAN);
    odd[0] = text("atlantis");
    let unseen = model.score(&odd, &mut s).unwrap_or(f64::NAN);
    assert!(unseen > typical, "{unseen} <= {typical}");
    // NULL in a category never seen NULL is scored too.
    odd[0] = Value::Null;
    assert!(model.score(&odd, &mut s).is_ok_and(|x| x.is_finite()));
    // Explanations name the expected region for a mismatched amount.
    let parts = model.explain(&rows[0], &mut s).unwrap_or_default();
    assert!(
        matches!(parts[0].expected, Expected::Category(_)),
        "{:?}",
        parts[0].expected
    );
    // The codec keeps the vocabulary: identical scores after a round trip.
    let back = codec::decode(&codec::encode(&model)).unwrap_or_else(|e| panic!("{e}"));
    let mut s2 = back.scratch();
    for r in rows.iter().take(100) {
        assert_eq!(model.score(r, &mut s), back.score(r, &mut s2));
    }
}
