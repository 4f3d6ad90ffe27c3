//! Models on every Citus node. The coordinator's catalog is the truth: each
//! change of a model (train, retrain, import, activate, drop, rename, grant,
//! revoke) ends by pushing that model's whole catalog state (every version,
//! its bytes, the grants) to every worker, where `ssad.apply_models` makes
//! the worker's rows equal to it. A push is idempotent, so a worker that
//! missed one (down, unreachable) catches up through `ssad_sync`, which
//! pushes again; `ssad_sync()` pushes every model, for a worker added later.
//! Citus runs the pushes in their own connections and transactions, not in
//! the caller's: a worker that cannot be reached is a WARNING naming it.

use crate::catalog;
use crate::citus::{self, Node};
use crate::error;
use crate::error::Kind;
use crate::guard::fixed_path;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value as Json;

/// The catalog state of the models `names` (a name without rows here has
/// no versions: pushed, it drops the model), as `ssad.apply_models` takes it. Read as the
/// caller, through read-write SPI so that this statement's own writes are
/// seen (a read-only query keeps the statement's starting snapshot).
fn state(names: &[&str], complete: bool) -> String {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let res = fixed_path(|| {
        Spi::connect_mut(|c| {
            c.update(
                "SELECT pg_catalog.jsonb_build_object('complete', $2, 'models',
                        COALESCE(pg_catalog.jsonb_object_agg(n, pg_catalog.jsonb_build_object(
                   'versions', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'version', m.version, 'source', m.source, 'train_args', m.train_args,
                        'columns', m.columns, 'options', m.options, 'metrics', m.metrics,
                        'format_version', m.format_version, 'model', pg_catalog.encode(m.model, 'base64'),
                        'owner', m.owner, 'created_at', m.created_at, 'active', m.active,
                        'high_water', m.high_water) ORDER BY m.version), '[]')
                      FROM ssad.models m WHERE m.name = n),
                   'grants', (SELECT COALESCE(pg_catalog.jsonb_agg(g.grantee ORDER BY g.grantee), '[]')
                      FROM ssad.model_grants g WHERE g.name = n))), '{}'))::text
                   FROM pg_catalog.unnest($1::text[]) AS n",
                None,
                &[names.into(), complete.into()],
            )?
            .first()
            .get::<String>(1)
        })
    });
    match res {
        Ok(Some(s)) => s,
        Ok(None) => pgrx::error!("ssad: reading the models to sync returned nothing"),
        Err(e) => pgrx::error!("ssad: reading the models to sync failed: {e}"),
    }
}

/// Hold the models' locks (`catalog::lock_name`) to the end of the
/// transaction before reading what to push: a change of a model pushes only
/// after an earlier one has committed, and reads it, so an older state is
/// never pushed after a newer one. Names in order: no deadlock between pushes.
fn lock_all(names: &[&str]) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for n in sorted {
        catalog::lock_name(n, true);
    }
}

/// Push `state` to `nodes`; one outcome a node, in their order.
fn push(nodes: &[Node], state: &str) -> Vec<citus::Outcome> {
    let command = format!(
        "SELECT ssad.apply_models({}::pg_catalog.jsonb)",
        citus::literal(state)
    );
    let refs: Vec<&Node> = nodes.iter().collect();
    citus::run_on(&refs, &vec![command; nodes.len()])
}

/// After a change of the models `names` on a Citus coordinator: the same
/// change on every worker. Nothing without Citus or on a worker.
pub fn propagate(names: &[&str]) {
    let nodes = citus::workers();
    if nodes.is_empty() {
        return;
    }
    lock_all(names);
    let outcomes = push(&nodes, &state(names, false));
    for (node, o) in nodes.iter().zip(outcomes) {
        if !o.success {
            let retry = names
                .iter()
                .map(|n| format!("SELECT ssad_sync({});", citus::literal(n)))
                .collect::<Vec<_>>()
                .join(" ");
            pgrx::warning!(
                "ssad: the change of model {} did not reach Citus worker {}:{}: {}. \
                 The coordinator and the other workers have it; once the worker is back, run: {retry}",
                names.join(", "),
                node.name,
                node.port,
                o.result.trim()
            );
        }
    }
}

/// Push the catalog state of one model, or of every model the current role
/// may change, to every Citus worker: the repair after a worker missed a
/// change, and how a worker added later gets the models.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn ssad_sync(
    model_name: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(node_name, String),
        name!(node_port, i32),
        name!(success, bool),
        name!(result, String),
    ),
> {
    // A model dropped here while a worker was away is synced as gone (the
    // worker checks that the caller owns what it removes).
    if let Some(name) = model_name {
        if catalog::owner(name).is_some() {
            catalog::require_owner(name);
        }
    }
    let nodes = citus::workers();
    if nodes.is_empty() {
        pgrx::notice!("ssad: not a Citus coordinator with workers; nothing to sync");
        return TableIterator::new(Vec::new());
    }
    let state = match model_name {
        Some(name) => {
            lock_all(&[name]);
            state(&[name], false)
        }
        None => {
            // Every model the current role may change; `complete` lets a
            // worker drop those of them the coordinator no longer has.
            let names = crate::spi_read::one::<Vec<String>>(
                "SELECT pg_catalog.array_agg(DISTINCT name ORDER BY name) FROM ssad.models
                  WHERE pg_catalog.pg_has_role(owner, 'MEMBER')",
                &[],
            )
            .unwrap_or_default();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            lock_all(&refs);
            state(&refs, true)
        }
    };
    let rows: Vec<_> = nodes
        .iter()
        .zip(push(&nodes, &state))
        .map(|(n, o)| (n.name.clone(), n.port, o.success, o.result))
        .collect();
    TableIterator::new(rows)
}

fn denied(message: String, detail: String) -> ! {
    error::raise(
        Kind::InsufficientPrivilege,
        message,
        Some(detail),
        Some("Only a model's owner (or a member of the owner role), a superuser or the catalog's owner may change it on a node."),
    )
}

/// Whether the current role may change every model: a superuser or a
/// member of the catalog's owner role.
fn is_catalog_admin() -> bool {
    crate::spi_read::one::<bool>(
        "SELECT pg_catalog.pg_has_role(c.relowner, 'MEMBER') FROM pg_catalog.pg_class c
          WHERE c.oid = 'ssad.models'::pg_catalog.regclass",
        &[],
    ) == Some(true)
}

fn text<'a>(v: &'a Json, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| bad_state(&format!("\"{key}\" is not a string")))
}

fn bad_state(why: &str) -> ! {
    error::raise(
        Kind::InvalidParameter,
        format!("invalid ssad model state: {why}"),
        None,
        Some("ssad.apply_models takes what a Citus coordinator's ssad pushes; call ssad_sync() there."),
    )
}

fn role_exists(role: &str) -> bool {
    role == "public"
        || crate::spi_read::one::<bool>(
            "SELECT pg_catalog.to_regrole(pg_catalog.quote_ident($1)) IS NOT NULL",
            &[crate::spi_read::arg(role)],
        ) == Some(true)
}

/// Make this node's rows of one model equal to `m` (no versions: dropped).
fn apply_one(name: &str, m: &Json, admin: bool) {
    if name.is_empty() || name.len() > 63 {
        bad_state(&format!("invalid model name \"{name}\""));
    }
    catalog::lock_name(name, true);
    if let Some(existing) = catalog::owner(name) {
        if !admin && !catalog::acts_as(&existing) {
            denied(
                format!("must be owner of ssad model \"{name}\" to change it on this node"),
                format!("The model is owned by role \"{existing}\" here."),
            );
        }
    }
    let versions = m["versions"].as_array().cloned().unwrap_or_default();
    let grants: Vec<String> = m["grants"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(first) = versions.first() {
        let owner = text(first, "owner");
        if versions.iter().any(|v| text(v, "owner") != owner) {
            bad_state("the versions of a model have different owners");
        }
        if versions
            .iter()
            .filter(|v| v["active"] == Json::Bool(true))
            .count()
            != 1
        {
            bad_state("a model needs exactly one active version");
        }
        if !role_exists(owner) {
            error::raise(
                Kind::UndefinedObject,
                format!("role \"{owner}\" does not exist on this node"),
                None,
                Some("Create the role on every node (Citus propagates CREATE ROLE from the coordinator)."),
            );
        }
        // Nobody creates a model in another role's name.
        if !admin && !catalog::acts_as(owner) {
            denied(
                format!("may not store ssad model \"{name}\" owned by role \"{owner}\""),
                "The current role is not a member of the owner role.".into(),
            );
        }
    }
    if let Some(g) = grants.iter().find(|g| !role_exists(g)) {
        error::raise(
            Kind::UndefinedObject,
            format!("role \"{g}\" does not exist on this node"),
            None,
            Some("Create the role on every node (Citus propagates CREATE ROLE from the coordinator)."),
        );
    }
    let numbers: Vec<i32> = versions
        .iter()
        .map(|v| {
            v["version"]
                .as_i64()
                .and_then(|x| i32::try_from(x).ok())
                .filter(|&x| x > 0)
                .unwrap_or_else(|| bad_state("a version is not a positive integer"))
        })
        .collect();
    catalog::write(
        "UPDATE ssad.models SET active = false WHERE name = $1 AND active",
        &[name.into()],
    );
    catalog::write(
        "DELETE FROM ssad.models WHERE name = $1 AND NOT (version = ANY ($2))",
        &[name.into(), numbers.clone().into()],
    );
    for (v, number) in versions.iter().zip(numbers) {
        apply_version(name, v, number);
    }
    catalog::write(
        "DELETE FROM ssad.model_grants WHERE name = $1",
        &[name.into()],
    );
    for g in &grants {
        catalog::write(
            "INSERT INTO ssad.model_grants (name, grantee) VALUES ($1, $2)",
            &[name.into(), g.as_str().into()],
        );
    }
}

/// One version: its row kept (same id, so the model caches keep it) when
/// its bytes are the same, replaced otherwise.
fn apply_version(name: &str, v: &Json, number: i32) {
    let bytes = crate::spi_read::one::<Vec<u8>>(
        "SELECT pg_catalog.decode($1, 'base64')",
        &[crate::spi_read::arg(text(v, "model"))],
    )
    .unwrap_or_else(|| bad_state("model bytes are missing"));
    // Decoding checks the magic, format version, shapes and checksum; the
    // score quantiles come from the bytes, exactly as training stored them.
    let model = ssad_core::codec::decode(&bytes).unwrap_or_else(|e| error::core(e));
    let json = |k: &str| JsonB(v[k].clone());
    let int = |k: &str| {
        v[k].as_i64()
            .and_then(|x| i32::try_from(x).ok())
            .unwrap_or_else(|| bad_state(&format!("\"{k}\" is not an integer")))
    };
    let args = || {
        vec![
            name.into(),
            number.into(),
            text(v, "source").into(),
            json("train_args").into(),
            json("columns").into(),
            json("options").into(),
            json("metrics").into(),
            model.score_quantiles.clone().into(),
            int("format_version").into(),
            bytes.clone().into(),
            text(v, "owner").into(),
            text(v, "created_at").into(),
            (v["active"] == Json::Bool(true)).into(),
            int("high_water").into(),
        ]
    };
    let kept = catalog::write(
        "UPDATE ssad.models SET source = $3, train_args = $4, columns = $5, options = $6, metrics = $7,
                score_quantiles = $8, format_version = $9, owner = $11, created_at = $12::timestamptz,
                active = $13, high_water = $14
          WHERE name = $1 AND version = $2 AND model = $10",
        &args(),
    );
    if kept == 0 {
        catalog::write(
            "DELETE FROM ssad.models WHERE name = $1 AND version = $2",
            &[name.into(), number.into()],
        );
        catalog::write(
            "INSERT INTO ssad.models (name, version, source, train_args, columns, options, metrics,
                                      score_quantiles, format_version, model, owner, created_at,
                                      active, high_water)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::timestamptz, $13, $14)",
            &args(),
        );
    }
}

/// The worker side of a push: make this node's catalog rows of each model
/// in `state` equal to the coordinator's. Checks, model by model, that the
/// current role may change the model here and may own what it stores.
/// With `complete`, the models missing from `state` that the current role
/// may change are dropped here. Returns the number of models applied.
// Declared in schema ssad below (pgrx knows only the schemas it creates).
#[pg_extern(sql = false)]
fn apply_models(state: JsonB) -> i64 {
    let Json::Object(models) = &state.0["models"] else {
        bad_state("\"models\" is not an object")
    };
    let admin = is_catalog_admin();
    for (name, m) in models {
        apply_one(name, m, admin);
    }
    if state.0["complete"] == Json::Bool(true) {
        let present: Vec<String> = models.keys().cloned().collect();
        let here = crate::spi_read::one::<Vec<String>>(
            "SELECT pg_catalog.array_agg(DISTINCT name ORDER BY name) FROM ssad.models
              WHERE NOT (name = ANY ($1))",
            &[crate::spi_read::arg(present)],
        )
        .unwrap_or_default();
        for name in here {
            let mine = catalog::owner(&name).is_some_and(|o| admin || catalog::acts_as(&o));
            if mine {
                apply_one(&name, &Json::Null, admin);
            }
        }
    }
    models.len() as i64
}

extension_sql!(
    r#"
CREATE FUNCTION ssad.apply_models(state jsonb) RETURNS bigint
  VOLATILE STRICT PARALLEL UNSAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'apply_models_wrapper';
"#,
    name = "apply_models",
    requires = ["catalog"],
);
