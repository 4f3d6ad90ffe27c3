//! Scoring many rows at once in an explicit rayon pool: chunks of rows, each
//! row's masks run as one matrix-matrix product (`Model::score_chunk`),
//! results in row order. The caller (the backend) checks for interrupts
//! between calls.

use crate::error::Result;
use crate::model::Model;
use crate::schema::Value;
use rayon::prelude::*;

/// Rows per parallel task: large enough to amortise the scratch, small
/// enough to balance two cores on a 10,000-row fetch.
const CHUNK: usize = 512;

impl Model {
    /// Scores of `rows` (each in model column order), computed in `pool`.
    pub fn score_batch(
        &self,
        rows: &[Vec<Value<'_>>],
        pool: &rayon::ThreadPool,
    ) -> Result<Vec<f64>> {
        let parts: Vec<Result<Vec<f64>>> = pool.install(|| {
            rows.par_chunks(CHUNK)
                .map(|chunk| {
                    let mut s = self.scratch();
                    self.score_chunk(chunk, &mut s)
                })
                .collect()
        });
        let mut out = Vec::with_capacity(rows.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;
    use crate::{thread_pool, train, ColumnKind, ColumnSpec, CoreError, TrainOptions, Value};

    #[test]
    fn batch_equals_one_by_one_for_any_pool() {
        let specs: Vec<ColumnSpec> = (0..4)
            .map(|j| ColumnSpec {
                name: format!("c{j}"),
                kind: ColumnKind::Numeric,
            })
            .collect();
        let mut rng = Rng::new(4);
        let rows: Vec<Vec<Value<'static>>> = (0..1500)
            .map(|_| (0..4).map(|_| Value::Num(rng.normal())).collect())
            .collect();
        let p1 = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let p2 = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            epochs: Some(3),
            ..Default::default()
        };
        let (m, _) =
            train(&specs, &rows, &opts, &p1, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
        let mut s = m.scratch();
        let single: Vec<f64> = rows
            .iter()
            .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
            .collect();
        // The same arithmetic as the one-row path: identical scores for any pool size.
        let b1 = m.score_batch(&rows, &p1).unwrap_or_default();
        let b2 = m.score_batch(&rows, &p2).unwrap_or_default();
        assert_eq!(b1, b2);
        assert_eq!(b1, single);
        let bad = vec![vec![Value::Num(1.0)]];
        assert!(matches!(
            m.score_batch(&bad, &p2),
            Err(CoreError::RowMismatch(_))
        ));
    }
}
