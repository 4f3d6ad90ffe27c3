//! Top-k of a distributed table on a Citus coordinator: every shard's own
//! `ssad_top_anomalies` runs on its worker, all shards in parallel (one
//! connection each), from the worker's copy of the model; the coordinator
//! merges the k best. Only k rows a shard cross the network.

use crate::citus::{self, Shard};
use crate::error;
use crate::error::Kind;
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};
use serde_json::Value as Json;
use std::cmp::Ordering;

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
        Kind::RemoteFailed,
        format!(
            "ssad: top-k of shard {} on Citus worker {}:{} failed",
            shard.relation, shard.node.name, shard.node.port
        ),
        Some(why.trim().to_string()),
        Some("Check that the worker is up and has ssad and the model (SELECT * FROM ssad_sync('model') on the coordinator)."),
    )
}

/// The command that answers a shard's top rows as JSON, with the worker's
/// active version (a worker that missed a change must not answer with
/// another version). `k` is SQL: a number, or a query for one.
fn command(schema: &str, model: &str, shard: &Shard, k: &str) -> String {
    format!(
        "SELECT pg_catalog.jsonb_build_object('version',
                (SELECT m.version FROM ssad.models m WHERE m.name OPERATOR(pg_catalog.=) {model} AND m.active),
                'rows', COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                t.ctid::pg_catalog.text, pg_catalog.encode(pg_catalog.float8send(t.score), 'hex'),
                pg_catalog.encode(pg_catalog.float8send(t.quantile), 'hex'), t.top_column, t.row_data)
                ORDER BY t.n), '[]'))::pg_catalog.text
           FROM {schema}.ssad_top_anomalies({model}, {}::pg_catalog.regclass, {k})
                WITH ORDINALITY AS t(ctid, score, quantile, top_column, row_data, n)",
        citus::literal(&shard.relation)
    )
}

/// Run `commands` on their shards; each shard's rows, most anomalous first.
fn run(model_name: &str, version: i32, shards: &[&Shard], commands: &[String]) -> Vec<Vec<Found>> {
    let nodes: Vec<&citus::Node> = shards.iter().map(|s| &s.node).collect();
    let mut out = Vec::new();
    for (shard, o) in shards.iter().zip(citus::run_on(&nodes, commands)) {
        if !o.success {
            shard_failed(shard, &o.result);
        }
        let answer = serde_json::from_str::<Json>(&o.result).unwrap_or(Json::Null);
        let Json::Array(rows) = &answer["rows"] else {
            shard_failed(shard, &format!("unexpected answer: {}", o.result))
        };
        if answer["version"].as_i64() != Some(i64::from(version)) {
            error::raise(
                Kind::OutOfSync,
                format!(
                    "Citus worker {}:{} scores with another version of ssad model \"{model_name}\"",
                    shard.node.name, shard.node.port
                ),
                Some(format!(
                    "The coordinator's active version is {version}, the worker's {}.",
                    answer["version"]
                )),
                Some("The worker missed a change: run SELECT * FROM ssad_sync('model') on the coordinator."),
            );
        }
        let parse = |r: &Json| {
            Some(Found {
                shard_id: shard.id,
                shard: shard.relation.clone(),
                ctid: tid(&r[0])?,
                score: float_hex(&r[1])?,
                quantile: float_hex(&r[2])?,
                top_column: r[3].as_str()?.to_string(),
                row_data: (!r[4].is_null()).then(|| JsonB(r[4].clone())),
            })
        };
        out.push(
            rows.iter()
                .map(|r| {
                    parse(r).unwrap_or_else(|| shard_failed(shard, &format!("unexpected row: {r}")))
                })
                .collect(),
        );
    }
    out
}

/// Two JSON values of one column, in SQL's order for numbers and texts.
fn cmp_json(a: &Json, b: &Json) -> Ordering {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .unwrap_or(f64::NAN)
                .total_cmp(&y.as_f64().unwrap_or(f64::NAN)),
        },
        (Json::String(x), Json::String(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The k most anomalous rows over all `shards`, most anomalous first.
/// Equal scores go by the distribution column `key` (a distributed table
/// has no one scan order; a local copy loaded in that order ties the same),
/// then by shard and each shard's own order.
pub fn top_k(
    model_name: &str,
    version: i32,
    key: Option<&str>,
    shards: &[Shard],
    k: usize,
) -> Vec<Found> {
    let schema = citus::extension_schema();
    let model = citus::literal(model_name);
    let all: Vec<&Shard> = shards.iter().collect();
    let commands: Vec<String> = all
        .iter()
        .map(|s| command(&schema, &model, s, &k.to_string()))
        .collect();
    let mut per_shard = run(model_name, version, &all, &commands);
    // A shard that answered k rows ending at the k-th best score overall
    // may hold more rows of that score: ask it for every row at or above it.
    let mut scores: Vec<f64> = per_shard.iter().flatten().map(|f| f.score).collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    if let Some(&kth) = scores.get(k - 1) {
        let cut: Vec<usize> = (0..shards.len())
            .filter(|&i| {
                per_shard[i].len() == k && per_shard[i].last().map(|f| f.score) == Some(kth)
            })
            .collect();
        if !cut.is_empty() {
            // `{:?}` writes the shortest text that reads back as the same float8.
            let rows_at_least = |s: &Shard| {
                format!(
                    "(SELECT LEAST(pg_catalog.count(*), 100000)::pg_catalog.int4 FROM {} AS t
                       WHERE {schema}.ssad_score({model}, t) OPERATOR(pg_catalog.>=) '{kth:?}'::pg_catalog.float8)",
                    s.relation
                )
            };
            let tied: Vec<&Shard> = cut.iter().map(|&i| &shards[i]).collect();
            let commands: Vec<String> = tied
                .iter()
                .map(|s| command(&schema, &model, s, &rows_at_least(s)))
                .collect();
            for (i, rows) in cut
                .into_iter()
                .zip(run(model_name, version, &tied, &commands))
            {
                per_shard[i] = rows;
            }
        }
    }
    let value = |f: &Found| -> Json {
        match (key, &f.row_data) {
            (Some(c), Some(r)) => r.0[c].clone(),
            _ => Json::Null,
        }
    };
    // Stable: after score and key, shard order, then each shard's own order.
    let mut found: Vec<Found> = per_shard.into_iter().flatten().collect();
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| cmp_json(&value(a), &value(b)))
    });
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
    let (_, relid, _, k, _) = crate::api::topk::checked(model_name, source, k);
    let version = crate::catalog::active(model_name).version;
    let Some(shards) = citus::shards(relid) else {
        error::raise(
            Kind::NotSupported,
            format!(
                "{} is not a distributed table of a Citus coordinator",
                crate::source::relation_name(relid)
            ),
            None,
            Some("Use ssad_top_anomalies() for a local table."),
        )
    };
    // Only now: pg_dist_partition exists only where Citus is installed.
    let key = citus::distribution_column(relid);
    let rows: Vec<_> = top_k(model_name, version, key.as_deref(), &shards, k)
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

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::{cmp_json, float_hex, tid};
    use pgrx::prelude::*;
    use serde_json::json;
    use std::cmp::Ordering;

    /// What a worker sends back reads back exactly: a ctid as tidout
    /// writes it, a float8 as float8send's hex (the bits, whatever the
    /// worker's extra_float_digits).
    #[pg_test]
    fn shard_answers_parse_exactly() {
        let t = tid(&json!("(4294967295,7)")).unwrap_or_else(|| panic!("no tid"));
        assert_eq!(pgrx::itemptr::item_pointer_get_both(t), (u32::MAX, 7));
        assert!(tid(&json!("(1,2")).is_none());
        assert!(tid(&json!("(-1,2)")).is_none());
        for x in [0.1f64, -0.0, 1e-310, f64::MAX, 2.0 / 3.0] {
            let hex = Spi::get_one_with_args::<String>(
                "SELECT encode(float8send($1), 'hex')",
                &[x.into()],
            )
            .ok()
            .flatten()
            .unwrap_or_default();
            assert_eq!(float_hex(&json!(hex)).map(f64::to_bits), Some(x.to_bits()));
        }
        assert!(float_hex(&json!(1.5)).is_none());
    }

    /// Ties between shards go by the distribution column as SQL orders it:
    /// numbers as numbers (a bigint beyond f64's exact range too), texts by bytes.
    #[pg_test]
    fn distribution_values_compare_as_sql_orders_them() {
        assert_eq!(cmp_json(&json!(9), &json!(10)), Ordering::Less);
        assert_eq!(
            cmp_json(&json!(9007199254740993i64), &json!(9007199254740992i64)),
            Ordering::Greater
        );
        assert_eq!(cmp_json(&json!(-1.5), &json!(2)), Ordering::Less);
        assert_eq!(cmp_json(&json!("b"), &json!("ab")), Ordering::Greater);
    }
}
