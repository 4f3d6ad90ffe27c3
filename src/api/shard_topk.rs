//! Top-k of a distributed table on a Citus coordinator: every shard's own
//! `ssad_top_anomalies` runs on its worker, all shards in parallel (one
//! connection each), from the worker's copy of the model; the coordinator
//! merges the k best. Only k rows a shard cross the network.

use crate::citus::{self, Shard};
use crate::error;
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation, PgSqlErrorCode};
use serde_json::Value as Json;

/// One merged row: where it lives and what the shard's top-k said of it.
pub struct Found {
    pub shard_id: i64,
    pub shard: String,
    pub ctid: pg_sys::ItemPointerData,
    pub score: f64,
    pub quantile: f64,
    pub top_column: String,
    pub row_data: Option<JsonB>,
}

/// A float8 sent as `float8send`'s hex: exact, whatever the worker's
/// `extra_float_digits`.
fn float_hex(v: &Json) -> Option<f64> {
    let bits = u64::from_str_radix(v.as_str()?, 16).ok()?;
    Some(f64::from_bits(bits))
}

/// `(block,offset)` as `tidout` writes it.
fn tid(v: &Json) -> Option<pg_sys::ItemPointerData> {
    let s = v.as_str()?.strip_prefix('(')?.strip_suffix(')')?;
    let (block, offset) = s.split_once(',')?;
    let mut t = pg_sys::ItemPointerData::default();
    pgrx::itemptr::item_pointer_set_all(&mut t, block.parse().ok()?, offset.parse().ok()?);
    Some(t)
}

fn shard_failed(shard: &Shard, why: &str) -> ! {
    error::raise(
        PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
        format!(
            "ssad: top-k of shard {} on Citus worker {}:{} failed",
            shard.relation, shard.node.name, shard.node.port
        ),
        Some(why.trim().to_string()),
        Some("Check that the worker is up and has ssad and the model (SELECT * FROM ssad_sync('model') on the coordinator)."),
    )
}

/// The k most anomalous rows over all `shards`, most anomalous first. Ties
/// keep each shard's order (its scan order, as the local top-k) and go by
/// shard id between shards.
pub fn top_k(model_name: &str, shards: &[Shard], k: usize) -> Vec<Found> {
    let schema = citus::extension_schema();
    let model = citus::literal(model_name);
    let commands: Vec<String> = shards
        .iter()
        .map(|s| {
            format!(
                "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                        t.ctid::pg_catalog.text, pg_catalog.encode(pg_catalog.float8send(t.score), 'hex'),
                        pg_catalog.encode(pg_catalog.float8send(t.quantile), 'hex'), t.top_column, t.row_data)
                        ORDER BY t.n), '[]')::pg_catalog.text
                   FROM {schema}.ssad_top_anomalies({model}, {}::pg_catalog.regclass, {k})
                        WITH ORDINALITY AS t(ctid, score, quantile, top_column, row_data, n)",
                citus::literal(&s.relation)
            )
        })
        .collect();
    let nodes: Vec<&citus::Node> = shards.iter().map(|s| &s.node).collect();
    let mut found = Vec::new();
    for (shard, o) in shards.iter().zip(citus::run_on(&nodes, &commands)) {
        if !o.success {
            shard_failed(shard, &o.result);
        }
        let Ok(Json::Array(rows)) = serde_json::from_str::<Json>(&o.result) else {
            shard_failed(shard, &format!("unexpected answer: {}", o.result))
        };
        for r in rows {
            let parsed = (|| {
                Some(Found {
                    shard_id: shard.id,
                    shard: shard.relation.clone(),
                    ctid: tid(&r[0])?,
                    score: float_hex(&r[1])?,
                    quantile: float_hex(&r[2])?,
                    top_column: r[3].as_str()?.to_string(),
                    row_data: (!r[4].is_null()).then(|| JsonB(r[4].clone())),
                })
            })();
            found.push(
                parsed.unwrap_or_else(|| shard_failed(shard, &format!("unexpected row: {r}"))),
            );
        }
    }
    // Stable: equal scores keep shard order, then each shard's own order.
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    found.truncate(k);
    found
}

/// `ssad_top_anomalies` of a distributed table with each row's shard: its
/// shard id, shard relation and the row's ctid there.
#[pg_extern(stable, parallel_restricted)]
#[allow(clippy::type_complexity)]
fn ssad_shard_top_anomalies(
    model_name: Option<&str>,
    source: default!(Option<PgRelation>, "NULL"),
    k: default!(Option<i32>, 10),
) -> TableIterator<
    'static,
    (
        name!(shardid, i64),
        name!(shard, String),
        name!(ctid, pg_sys::ItemPointerData),
        name!(score, f64),
        name!(quantile, f64),
        name!(top_column, String),
        name!(row_data, Option<JsonB>),
    ),
> {
    let model_name = error::required(model_name, "model_name");
    let (_, relid, _, k) = crate::api::topk::checked(model_name, source, k);
    let Some(shards) = citus::shards(relid) else {
        error::raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "{} is not a distributed table of a Citus coordinator",
                crate::source::relation_name(relid)
            ),
            None,
            Some("Use ssad_top_anomalies() for a local table."),
        )
    };
    let rows: Vec<_> = top_k(model_name, &shards, k)
        .into_iter()
        .map(|f| {
            (
                f.shard_id,
                f.shard,
                f.ctid,
                f.score,
                f.quantile,
                f.top_column,
                f.row_data,
            )
        })
        .collect();
    TableIterator::new(rows)
}
