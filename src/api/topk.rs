//! `ssad_top_anomalies`: scan a whole relation in fetches, score each fetch
//! in the rayon pool (sized by `ssad.threads`; a row repeated within a fetch
//! once, see `batch::Pipeline`), keep a bounded heap of the k most anomalous
//! rows, return them with their explanation.

use crate::{cache, catalog, error, source, stats};
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};
use ssad_core::Value;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Rows per SPI fetch at most (the first fetches are shorter, see
/// `spi_scan`), each scored as one parallel batch.
const FETCH: i64 = 10_000;

/// What a scanned row carries besides its values: where it is (its table,
/// a partition or inheritance child of a parent scanned whole, and its
/// ctid there), or for a view the row itself.
type Extra = (
    Option<(pg_sys::Oid, pg_sys::ItemPointerData)>,
    Option<JsonB>,
);

/// A heap entry ordered so that the heap's top is the *least* anomalous kept row.
struct Kept {
    score: f64,
    seq: u64,
    at: Option<(pg_sys::Oid, pg_sys::ItemPointerData)>,
    row: Option<JsonB>,
    values: Vec<Value<'static>>,
}

impl PartialEq for Kept {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Kept {
    fn cmp(&self, o: &Self) -> Ordering {
        // Higher score = "smaller", so BinaryHeap (a max-heap) pops the lowest score;
        // on ties the later row goes first, keeping the scan order stable.
        o.score.total_cmp(&self.score).then(self.seq.cmp(&o.seq))
    }
}

/// The model, relation, feeds and k of a top-k call, each checked.
pub fn checked(
    model_name: &str,
    source: Option<PgRelation>,
    k: Option<i32>,
) -> (
    std::sync::Arc<ssad_core::Model>,
    pg_sys::Oid,
    source::ModelFeeds,
    usize,
    stats::Tally,
) {
    let k = error::required(k, "k");
    if !(1..=100_000).contains(&k) {
        error::invalid_parameter(
            format!("k must be between 1 and 100000, got {k}"),
            "Top-k holds its k rows in memory; for more rows, ORDER BY ssad_score('model', t) DESC.",
        );
    }
    let (id, _, model) = cache::active(model_name);
    let relid = match source {
        Some(r) => r.oid(),
        None => source::resolve(&catalog::train_args(model_name).source),
    };
    source::require_rows(relid);
    let feeds = source::feeds_for_model(&model, relid);
    (model, relid, feeds, k as usize, stats::Tally::new(id))
}

/// The k most anomalous rows of `source` (default: the relation the model
/// was trained on), most anomalous first.
#[pg_extern(stable, parallel_restricted)]
#[allow(clippy::type_complexity)]
fn ssad_top_anomalies(
    model_name: Option<&str>,
    source: default!(Option<PgRelation>, "NULL"),
    k: default!(Option<i32>, 10),
) -> TableIterator<
    'static,
    (
        name!(ctid, Option<pg_sys::ItemPointerData>),
        name!(score, f64),
        name!(quantile, f64),
        name!(top_column, String),
        name!(row_data, Option<JsonB>),
    ),
> {
    let model_name = error::required(model_name, "model_name");
    let (model, relid, feeds, k, mut tally) = checked(model_name, source, k);
    // A distributed table on a Citus coordinator: each shard's top k on
    // its worker, merged here.
    if let Some(shards) = crate::citus::shards(relid) {
        let version = catalog::active(model_name).version;
        let key = crate::citus::distribution_column(relid);
        let rows = crate::api::shard_topk::top_k(model_name, version, key.as_deref(), &shards, k)
            .into_iter()
            .map(|r| (Some(r.ctid), r.score, r.quantile, r.top_column, r.row_data));
        return TableIterator::new(rows.collect::<Vec<_>>());
    }
    // Views have no ctid: carry the row itself through the scan instead. A
    // ctid alone does not tell the partitions of a table apart: the row is
    // found again by its table's oid too. The row is `t.*`, not `t`: a
    // column named t would win over the alias.
    let has_ctid = source::relkind(relid) != "v";
    let extra: &[&str] = if has_ctid {
        &source::LOCATION
    } else {
        &["to_jsonb(t.*)"]
    };
    let mut heap: BinaryHeap<Kept> = BinaryHeap::with_capacity(k + 1);
    let mut seq = 0u64;
    source::scan_scored(
        &model,
        relid,
        &feeds,
        extra,
        FETCH,
        |row| -> Extra {
            if has_ctid {
                let at = row
                    .get::<pg_sys::Oid>(1)
                    .zip(row.get::<pg_sys::ItemPointerData>(2));
                (at, None)
            } else {
                (None, row.get::<JsonB>(1))
            }
        },
        |extras, rows, scores| {
            for (r, (score, (at, row))) in scores.into_iter().zip(extras).enumerate() {
                seq += 1;
                if heap.len() < k || heap.peek().is_some_and(|w| score > w.score) {
                    heap.push(Kept {
                        score,
                        seq,
                        at,
                        row,
                        values: rows.row_owned(r),
                    });
                    if heap.len() > k {
                        heap.pop();
                    }
                }
            }
        },
    );
    tally.scan(seq);
    let mut kept = heap.into_sorted_vec();
    kept.truncate(k);
    let qualified = source::qualified_name(relid);
    let mut scratch = model.scratch();
    let rows: Vec<_> = kept
        .into_iter()
        .map(|w| {
            let parts = model
                .explain(&w.values, &mut scratch)
                .unwrap_or_else(|e| error::core(e));
            let top = parts
                .iter()
                .min_by(|a, b| crate::api::explain::most_first(a, b))
                .map(|c| model.columns[c.column].name.clone())
                .unwrap_or_default();
            let row = match (w.row, w.at) {
                (Some(r), _) => Some(r),
                (None, Some((table, ctid))) => crate::spi_read::one::<JsonB>(
                    &format!(
                        "SELECT to_jsonb(t.*) FROM {qualified} AS t WHERE t.tableoid = $1 AND t.ctid = $2"
                    ),
                    &[crate::spi_read::arg(table), crate::spi_read::arg(ctid)],
                ),
                (None, None) => None,
            };
            (w.at.map(|a| a.1), w.score, model.quantile(w.score), top, row)
        })
        .collect();
    TableIterator::new(rows)
}
