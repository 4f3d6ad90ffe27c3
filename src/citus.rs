//! Citus, detected at run time: ssad neither links nor loads it. On a
//! coordinator with workers, the model catalog is copied to every worker (a
//! worker scores shard queries from its own catalog: a shard query may not
//! read a distributed or reference table, citus issue 5887), and whole-table
//! work is sent to the shards. Everything here reaches the workers through
//! `pg_catalog.master_run_on_worker`, which connects as the current user:
//! a worker checks that user's rights itself (`api::cluster`).

use crate::spi_read::{arg, one};
use pgrx::prelude::*;

/// A worker node, as `pg_dist_node` names it.
pub struct Node {
    pub name: String,
    pub port: i32,
}

/// Whether the citus extension is installed in this database.
fn installed() -> bool {
    one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')",
        &[],
    ) == Some(true)
}

/// The primary workers when this node is a Citus coordinator (group 0), in
/// node order; empty without Citus or on a worker (Citus 11 on syncs its
/// metadata to the workers too, so `pg_dist_node` alone does not tell).
pub fn workers() -> Vec<Node> {
    if !installed() {
        return Vec::new();
    }
    let nodes = one::<pgrx::JsonB>(
        "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(nodename, nodeport)
                                                         ORDER BY nodename, nodeport), '[]')
           FROM pg_catalog.pg_dist_node
          WHERE groupid <> 0 AND noderole = 'primary' AND isactive
            AND (SELECT groupid FROM pg_catalog.pg_dist_local_group) = 0",
        &[],
    );
    let Some(pgrx::JsonB(serde_json::Value::Array(rows))) = nodes else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|r| {
            Some(Node {
                name: r.get(0)?.as_str()?.to_string(),
                port: i32::try_from(r.get(1)?.as_i64()?).ok()?,
            })
        })
        .collect()
}

/// A shard placement of a distributed table, for commands run on it.
pub struct Shard {
    pub id: i64,
    /// Schema-qualified, quoted shard relation name.
    pub relation: String,
    pub node: Node,
}

/// The shards of `relid` (one active placement each), when this node is a
/// coordinator and `relid` is a hash-, range- or append-distributed table;
/// None otherwise (a local, reference or Citus-local table is read here).
pub fn shards(relid: pg_sys::Oid) -> Option<Vec<Shard>> {
    if workers().is_empty() {
        return None;
    }
    let found = one::<pgrx::JsonB>(
        "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(s.shardid,
                    -- shard_name leaves out the schema public: the worker
                    -- must not look the name up through a search_path.
                    CASE WHEN n.nspname = 'public' THEN 'public.' ELSE '' END
                      || pg_catalog.shard_name(s.logicalrelid, s.shardid), p.nodename, p.nodeport)
                    ORDER BY s.shardid)
           FROM pg_catalog.pg_dist_partition d
           JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = d.logicalrelid
           CROSS JOIN LATERAL (SELECT nodename, nodeport FROM pg_catalog.pg_dist_shard_placement sp
                                WHERE sp.shardid = s.shardid AND sp.shardstate = 1
                                ORDER BY sp.placementid LIMIT 1) p
          WHERE d.logicalrelid = $1 AND d.partmethod IN ('h', 'r', 'a')",
        &[arg(relid)],
    )?;
    let serde_json::Value::Array(rows) = found.0 else {
        return None;
    };
    let shards: Vec<Shard> = rows
        .iter()
        .filter_map(|r| {
            Some(Shard {
                id: r.get(0)?.as_i64()?,
                relation: r.get(1)?.as_str()?.to_string(),
                node: Node {
                    name: r.get(2)?.as_str()?.to_string(),
                    port: i32::try_from(r.get(3)?.as_i64()?).ok()?,
                },
            })
        })
        .collect();
    (!shards.is_empty()).then_some(shards)
}

/// The distribution column of a distributed table (None for one without).
/// Only where Citus is installed (after `shards` found the table).
pub fn distribution_column(relid: pg_sys::Oid) -> Option<String> {
    one::<String>(
        "SELECT pg_catalog.column_to_column_name(logicalrelid, partkey)
           FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1 AND partkey IS NOT NULL",
        &[arg(relid)],
    )
}

/// What one remote command returned.
pub struct Outcome {
    pub success: bool,
    pub result: String,
}

/// Run `commands[i]` on `nodes[i]`, in parallel, each in its own connection
/// and transaction, as the current user. A node that cannot be reached is an
/// unsuccessful outcome, not an error.
pub fn run_on(nodes: &[&Node], commands: &[String]) -> Vec<Outcome> {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let ports: Vec<i32> = nodes.iter().map(|n| n.port).collect();
    let res = crate::guard::fixed_path(|| {
        Spi::connect(|c| {
            let t = c.select(
                "SELECT success, result FROM pg_catalog.master_run_on_worker($1, $2, $3, true)",
                None,
                &[names.into(), ports.into(), commands.to_vec().into()],
            )?;
            let mut out = Vec::new();
            for row in t {
                out.push(Outcome {
                    success: row.get::<bool>(1)? == Some(true),
                    result: row.get::<String>(2)?.unwrap_or_default(),
                });
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
    });
    res.unwrap_or_else(|e| pgrx::error!("ssad: running a command on the Citus workers failed: {e}"))
}

/// `text` as a SQL literal (quote_literal: safe whatever the text holds).
pub fn literal(text: &str) -> String {
    one::<String>("SELECT pg_catalog.quote_literal($1)", &[arg(text)])
        .unwrap_or_else(|| pgrx::error!("ssad: quoting a literal failed"))
}

/// The schema ssad's functions live in, quoted: the same on every node
/// (each node installs the same extension the same way).
pub fn extension_schema() -> String {
    one::<String>(
        "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'ssad'",
        &[],
    )
    .unwrap_or_else(|| "public".into())
}

/// A distributed table's training sample, drawn on the shards.
pub struct ShardSample {
    /// A `WHERE` clause keeping each row with chance `percent`, from a hash
    /// of the shard's oid, the row's ctid and the training's seed. Citus
    /// runs it on every shard, so only those rows reach here. Not
    /// `TABLESAMPLE ... REPEATABLE (seed)`: Citus sends every shard the same
    /// seed, which keeps the same positions in every shard, so rows were
    /// kept together, not each alone.
    pub clause: String,
    pub rows_in_table: i64,
    pub percent: f64,
}

/// For a distributed table on a coordinator that holds well over `cap`
/// rows: a Bernoulli sample of each shard, sized to give about 10% (and
/// 1,000 rows) more than `cap`, which the reservoir then thins to `cap`. The
/// hash keeps each row alone with the same chance, so the rows kept are a
/// uniform sample of the table, the same one for the same seed and table.
/// None when the table is read whole (local, or not much larger than the
/// sample).
pub fn shard_sample(relid: pg_sys::Oid, cap: usize, seed: u64) -> Option<ShardSample> {
    shards(relid)?;
    // The count runs on the shards; only their counts come back.
    let rows = one::<i64>(
        &format!(
            "SELECT pg_catalog.count(*) FROM {} AS t",
            crate::source::qualified_name(relid)
        ),
        &[],
    )?;
    let want = cap as f64 * 1.1 + 1000.0;
    if (rows as f64) < 2.0 * want {
        return None;
    }
    let share = want / rows as f64;
    // hashtextextended is uniform over the int8 range: keep the bottom share.
    let below = (share * 2f64.powi(64) - 2f64.powi(63)) as i64;
    Some(ShardSample {
        clause: format!(
            "WHERE pg_catalog.hashtextextended(t.tableoid::pg_catalog.text OPERATOR(pg_catalog.||) \
             t.ctid::pg_catalog.text, {}) OPERATOR(pg_catalog.<) {below}",
            seed as i64
        ),
        rows_in_table: rows,
        percent: 100.0 * share,
    })
}
