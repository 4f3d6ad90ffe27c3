//! Property tests of the whole model (proptest): on random small tables of
//! mixed column kinds (numbers with outliers and NULLs, categories, constant
//! and all-NULL columns), whatever trains scores every row to the same bits
//! through the one-row path, the batch path and a codec round trip, and a row
//! of the right arity never fails to score, whatever its values (infinities,
//! NaN, huge numbers, unseen categories, NULL everywhere). Damaged model
//! bytes that still pass the checksum decode to an error or to a model that
//! scores without a panic.

use proptest::prelude::*;
use ssad_core::rng::Rng;
use ssad_core::{codec, thread_pool, train, ColumnKind, ColumnSpec, TrainOptions, Value};
use std::borrow::Cow;

#[path = "../src/prop_check.rs"]
mod prop_check;
use prop_check::check;

const LABELS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Column specs and rows: `nums` numeric and `cats` categorical columns,
/// NULL at `null_rate`, a numeric outlier now and then; with `constant`, one
/// more numeric column holding a single value, and with `all_null` one that
/// is always NULL.
fn table(
    n: usize,
    nums: usize,
    cats: usize,
    null_rate: f64,
    constant: bool,
    all_null: bool,
    seed: u64,
) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>) {
    let mut specs: Vec<ColumnSpec> = (0..nums)
        .map(|j| ColumnSpec {
            name: format!("x{j}"),
            kind: ColumnKind::Numeric,
        })
        .chain((0..cats).map(|j| ColumnSpec {
            name: format!("k{j}"),
            kind: ColumnKind::Categorical,
        }))
        .collect();
    for (on, name) in [(constant, "flat"), (all_null, "empty")] {
        if on {
            specs.push(ColumnSpec {
                name: name.into(),
                kind: ColumnKind::Numeric,
            });
        }
    }
    let mut rng = Rng::new(seed);
    let rows = (0..n)
        .map(|_| {
            let latent = rng.normal();
            let mut r: Vec<Value<'static>> = Vec::with_capacity(specs.len());
            for j in 0..nums {
                r.push(if rng.next_f64() < null_rate {
                    Value::Null
                } else if rng.next_f64() < 0.02 {
                    Value::Num(1e6 * (j as f64 + 1.0))
                } else {
                    Value::Num(latent * (j as f64 + 1.0) + 0.3 * rng.normal())
                });
            }
            for _ in 0..cats {
                r.push(if rng.next_f64() < null_rate {
                    Value::Null
                } else {
                    let i =
                        ((latent + 2.0).max(0.0) as usize + rng.below(2) as usize) % LABELS.len();
                    Value::Text(Cow::Borrowed(LABELS[i]))
                });
            }
            if constant {
                r.push(Value::Num(7.0));
            }
            if all_null {
                r.push(Value::Null);
            }
            r
        })
        .collect();
    (specs, rows)
}

/// Rows no table holds: infinities, NaN, huge numbers, unseen categories,
/// NULL in every column.
fn strange_rows(specs: &[ColumnSpec]) -> Vec<Vec<Value<'static>>> {
    let nums = [
        Value::Num(f64::INFINITY),
        Value::Num(f64::NEG_INFINITY),
        Value::Num(f64::NAN),
        Value::Num(1e308),
        Value::Num(-1e308),
        Value::Num(f64::MAX),
        Value::Num(f64::MIN_POSITIVE),
        Value::Num(-0.0),
        Value::Null,
    ];
    (0..nums.len())
        .map(|v| {
            specs
                .iter()
                .map(|s| match s.kind {
                    ColumnKind::Numeric => nums[v].clone(),
                    _ if v % 2 == 0 => Value::Text(Cow::Borrowed("never seen")),
                    _ => Value::Null,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_path_scores_the_same_bits_and_nothing_fails() {
    let strategy = (
        60usize..200,
        0usize..4,
        0usize..3,
        0.0f64..0.3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    );
    check(
        16,
        strategy,
        |(n, nums, cats, null_rate, constant, all_null, distill, seed)| {
            prop_assume!(nums + cats > 0);
            let (specs, rows) = table(n, nums, cats, null_rate, constant, all_null, seed);
            let pool = thread_pool(2).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let opts = TrainOptions {
                seed: Some(seed),
                epochs: Some(3),
                distill: Some(distill),
                ..Default::default()
            };
            // A table may be refused (say, nothing varies): with a typed error,
            // never a panic; then there is nothing more to check.
            let Ok((model, _)) = train(&specs, &rows, &opts, &pool, &mut |_| true) else {
                return Ok(());
            };
            let back = codec::decode(&codec::encode(&model))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Constant and all-NULL columns are left out of the model: rows are
            // read into the model's columns by name, as the SQL glue binds them.
            let keep: Vec<usize> = model
                .columns
                .iter()
                .filter_map(|c| specs.iter().position(|s| s.name == c.name))
                .collect();
            prop_assert_eq!(keep.len(), model.columns.len());
            let all: Vec<Vec<Value<'static>>> = rows
                .iter()
                .chain(strange_rows(&specs).iter())
                .map(|r| keep.iter().map(|&j| r[j].clone()).collect())
                .collect();
            let batch = model
                .score_batch(&all, &pool)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (mut s1, mut s2) = (model.scratch(), back.scratch());
            for (i, r) in all.iter().enumerate() {
                let one = model
                    .score(r, &mut s1)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let again = back
                    .score(r, &mut s2)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(
                    one.to_bits(),
                    batch[i].to_bits(),
                    "row {} one-row vs batch",
                    i
                );
                prop_assert_eq!(
                    one.to_bits(),
                    again.to_bits(),
                    "row {} through the codec",
                    i
                );
                prop_assert!(
                    one.is_finite() && one >= 0.0,
                    "row {}: score {} is not a finite number >= 0",
                    i,
                    one
                );
            }
            Ok(())
        },
    );
}

/// A small trained model's bytes, once for every case of `decode_never_panics`.
fn model_bytes() -> &'static (Vec<u8>, Vec<Vec<Value<'static>>>) {
    static BYTES: std::sync::OnceLock<(Vec<u8>, Vec<Vec<Value<'static>>>)> =
        std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let (specs, rows) = table(120, 3, 1, 0.1, false, false, 5);
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            seed: Some(5),
            epochs: Some(3),
            ..Default::default()
        };
        let (m, _) =
            train(&specs, &rows, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
        (codec::encode(&m), rows)
    })
}

/// `bytes` with its payload length and checksum made consistent again, as a
/// writer with a bug (or a hand-edited catalog row) could store them.
fn reseal(mut bytes: Vec<u8>, payload_len: usize) -> Vec<u8> {
    const HEADER: usize = 8 + 2 + 4;
    bytes.truncate(HEADER + payload_len);
    bytes[10..14].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Damaged model bytes that still pass the checksum (flipped bytes, a cut
/// payload) decode to an error or to a model that scores without a panic.
#[test]
fn decode_never_panics() {
    let strategy = (
        proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
        proptest::option::of(any::<prop::sample::Index>()),
    );
    check(512, strategy, |(flips, cut)| {
        let (bytes, rows) = model_bytes();
        let plen = bytes.len() - 14 - 4;
        let mut b = bytes.clone();
        for (at, x) in &flips {
            b[14 + at.index(plen)] ^= x;
        }
        let keep = cut.map_or(plen, |c| c.index(plen + 1));
        let b = reseal(b, keep);
        // About 45% of the cases decode (measured): those are scored.
        if let Ok(m) = codec::decode(&b) {
            let pool = thread_pool(1).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut s = m.scratch();
            for r in rows.iter().take(5) {
                let _ = m.score(r, &mut s);
                let _ = m.explain(r, &mut s);
            }
            let _ = m.score_batch(&rows[..5], &pool);
        }
        Ok(())
    });
}

/// The options text given to `ssad_train` (user input): any text parses to
/// options that validate, or to a typed error; never a panic. Objects with
/// the known keys and values of any JSON kind exercise the validation.
#[test]
fn any_options_text_parses_or_fails_cleanly() {
    let mut names = ssad_core::options::KEYS.to_vec();
    names.push("unknown");
    let keys = prop::sample::select(names);
    let values = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("\"5\"".to_string()),
        Just("[1]".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
    ];
    let objects = proptest::collection::vec((keys, values), 0..5).prop_map(|kv| {
        let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        format!("{{{}}}", body.join(", "))
    });
    let texts = prop_oneof![objects, any::<String>()];
    check(512, texts, |text| {
        match TrainOptions::from_json(&text) {
            Ok(o) => prop_assert!(
                o.validate().is_ok(),
                "{} parsed but does not validate",
                text
            ),
            Err(e) => prop_assert!(
                matches!(e, ssad_core::CoreError::InvalidOption(_)),
                "{}: {:?}",
                text,
                e
            ),
        }
        Ok(())
    });
}

/// AUROC against the pairwise definition (ties count a half), on scores with
/// many ties.
#[test]
fn auroc_is_the_share_of_ordered_pairs() {
    let rows = proptest::collection::vec((0u8..6, any::<bool>()), 2..60);
    check(256, rows, |rows| {
        let scores: Vec<f64> = rows.iter().map(|&(s, _)| f64::from(s)).collect();
        let labels: Vec<bool> = rows.iter().map(|&(_, l)| l).collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li && !lj {
                    pairs += 1.0;
                    wins += match scores[i].partial_cmp(&scores[j]) {
                        Some(std::cmp::Ordering::Greater) => 1.0,
                        Some(std::cmp::Ordering::Equal) => 0.5,
                        _ => 0.0,
                    };
                }
            }
        }
        let got = ssad_core::metrics::auroc(&scores, &labels);
        if pairs == 0.0 {
            prop_assert!(got.is_none(), "{:?}", got);
        } else {
            let got = got.ok_or_else(|| TestCaseError::fail("no AUROC"))?;
            prop_assert!(
                (got - wins / pairs).abs() < 1e-12,
                "{} vs {}",
                got,
                wins / pairs
            );
        }
        Ok(())
    });
}
