//! Property tests of the whole model (proptest): on random small tables of
//! mixed column kinds (numbers with outliers and NULLs, categories, constant
//! and all-NULL columns), whatever trains scores every row to the same bits
//! through the one-row path, the batch path and a codec round trip, and a row
//! of the right arity never fails to score, whatever its values (infinities,
//! NaN, huge numbers, unseen categories, NULL everywhere).

use proptest::prelude::*;
use ssad_core::rng::Rng;
use ssad_core::{codec, thread_pool, train, ColumnKind, ColumnSpec, TrainOptions, Value};
use std::borrow::Cow;

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_path_scores_the_same_bits_and_nothing_fails(
        n in 60usize..200,
        nums in 0usize..4,
        cats in 0usize..3,
        null_rate in 0.0f64..0.3,
        constant in any::<bool>(),
        all_null in any::<bool>(),
        distill in any::<bool>(),
        seed in any::<u64>(),
    ) {
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
            let one = model.score(r, &mut s1).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = back.score(r, &mut s2).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(one.to_bits(), batch[i].to_bits(), "row {} one-row vs batch", i);
            prop_assert_eq!(one.to_bits(), again.to_bits(), "row {} through the codec", i);
            prop_assert!(one.is_nan() || one >= 0.0, "row {}: negative score {}", i, one);
        }
    }
}
