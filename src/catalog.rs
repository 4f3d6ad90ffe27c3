//! The model catalog: schema `ssad`, one row per model version, kept by
//! pg_dump (tables and sequence are extension configuration). A model is an
//! owned object: the role that trains it owns it, only its owner (or members
//! of the owner role) may change it, and other roles see and score it only
//! once the owner grants it with `ssad_grant` (row-level security on reads).
//! Nobody writes the catalog directly: the functions here check who may
//! change a model, then write as the catalog's owner (`guard`).

use crate::error;
use crate::error::Kind;
use crate::guard::{as_catalog_owner, current_role, fixed_path};
use crate::spi_read::{arg, one};
use pgrx::prelude::*;

pgrx::extension_sql_file!("../sql/catalog.sql", name = "catalog", bootstrap);

/// The owner role of a model name, if the model exists (visible or not).
pub fn owner(name: &str) -> Option<String> {
    one::<String>("SELECT ssad.model_owner($1)::text", &[arg(name)])
}

/// Whether the current role is the owner role or a member of it.
pub fn acts_as(owner: &str) -> bool {
    one::<bool>(
        "SELECT pg_catalog.pg_has_role($1::name, 'MEMBER')",
        &[arg(owner)],
    ) == Some(true)
}

/// Error unless the model exists and the current role may change it.
pub fn require_owner(name: &str) {
    let Some(owner) = owner(name) else {
        error::undefined_model(name)
    };
    if !acts_as(&owner) {
        error::raise(
            Kind::InsufficientPrivilege,
            format!("must be owner of ssad model \"{name}\""),
            Some(format!("The model is owned by role \"{owner}\".")),
            Some("Ask its owner, or a member of the owner role."),
        );
    }
}

/// Raise "does not exist" or "permission denied", whichever is true, for a
/// model the current role cannot see.
pub fn not_visible(name: &str) -> ! {
    match owner(name) {
        None => error::undefined_model(name),
        Some(owner) => error::raise(
            Kind::InsufficientPrivilege,
            format!("permission denied for ssad model \"{name}\""),
            Some(format!("The model is owned by role \"{owner}\".")),
            Some("Its owner can allow scoring with SELECT ssad_grant('model', 'role')."),
        ),
    }
}

/// The active version of a model, as scoring needs it.
pub struct ActiveModel {
    pub id: i64,
    pub version: i32,
}

fn parse_id_version(s: &str) -> Option<ActiveModel> {
    let (id, version) = s.split_once(':')?;
    Some(ActiveModel {
        id: id.parse().ok()?,
        version: version.parse().ok()?,
    })
}

pub fn active(name: &str) -> ActiveModel {
    // One read-only query returning both fields as text keeps this on the
    // parallel-safe path (see spi_read).
    one::<String>(
        "SELECT id::text || ':' || version::text FROM ssad.models WHERE name = $1 AND active",
        &[arg(name)],
    )
    .as_deref()
    .and_then(parse_id_version)
    .unwrap_or_else(|| not_visible(name))
}

/// The single active model trained on a relation (for `ssad_score(r)`).
pub fn active_for_source(source: &str) -> String {
    let names = one::<Vec<String>>(
        "SELECT array_agg(name ORDER BY name) FROM ssad.models WHERE source = $1 AND active",
        &[arg(source)],
    )
    .unwrap_or_default();
    match names.as_slice() {
        [one] => one.clone(),
        [] => error::raise(
            Kind::UndefinedObject,
            format!("no active ssad model was trained on {source}"),
            None,
            Some("Train one with ssad_train(), or name the model: ssad_score('model', t)."),
        ),
        many => error::raise(
            Kind::Ambiguous,
            format!("{} active ssad models were trained on {source}", many.len()),
            Some(format!("Candidates: {}.", many.join(", "))),
            Some("Name the model: ssad_score('model', t)."),
        ),
    }
}

pub fn model_bytes(id: i64) -> Vec<u8> {
    one::<Vec<u8>>("SELECT model FROM ssad.models WHERE id = $1", &[arg(id)])
        .unwrap_or_else(|| pgrx::error!("ssad: model row {id} vanished from the catalog"))
}

/// Serialise trainings (and retrains) of one model name for this transaction.
/// Returns false when `wait` is false and another session holds the lock.
pub fn lock_name(name: &str, wait: bool) -> bool {
    let key = format!("ssad.models:{name}");
    let sql = if wait {
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1)) IS NOT NULL"
    } else {
        "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($1))"
    };
    fixed_path(|| Spi::get_one_with_args::<bool>(sql, &[key.as_str().into()]))
        .ok()
        .flatten()
        == Some(true)
}

/// What a new version row holds.
pub struct NewVersion<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub train_args: pgrx::JsonB,
    pub columns: pgrx::JsonB,
    pub options: pgrx::JsonB,
    pub metrics: pgrx::JsonB,
    pub score_quantiles: Vec<f64>,
    pub format_version: i32,
    pub model: Vec<u8>,
}

/// Insert a new version and make it the active one; returns the version
/// number, above every number the model has had (`high_water` remembers a
/// dropped newest version; the new row records the mark too, so every row
/// knows every number used before it).
/// The caller holds the name's advisory lock (`lock_name`).
pub fn insert_version(v: NewVersion<'_>) -> i32 {
    let existing = owner(v.name);
    if let Some(owner) = &existing {
        if !acts_as(owner) {
            error::raise(
                Kind::InsufficientPrivilege,
                format!(
                    "must be owner of ssad model \"{}\" to train a new version",
                    v.name
                ),
                Some(format!("The model is owned by role \"{owner}\".")),
                Some("Choose another model name."),
            );
        }
    }
    // A new model is owned by the role training it (read before acting as
    // the catalog's owner); a new version by the model's owner.
    let owner = existing.unwrap_or_else(current_role);
    let res = as_catalog_owner(|| {
        Spi::connect_mut(|c| {
            if !model_exists(c, v.name)? {
                // A new model starts with no grants, whatever a name reused
                // after a drop once had.
                c.update(
                    "DELETE FROM ssad.model_grants WHERE name = $1",
                    None,
                    &[v.name.into()],
                )?;
            }
            c.update(
                "UPDATE ssad.models SET active = false WHERE name = $1 AND active",
                None,
                &[v.name.into()],
            )?;
            let t = c.update(
                "INSERT INTO ssad.models (name, version, source, train_args, columns, options, metrics,
                                          score_quantiles, format_version, model, owner, active,
                                          high_water)
                 SELECT $1, greatest(max(version), max(high_water), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9,
                        $10, true, greatest(max(version), max(high_water), 0)
                   FROM ssad.models WHERE name = $1
                 RETURNING version",
                None,
                &[
                    v.name.into(),
                    v.source.into(),
                    v.train_args.into(),
                    v.columns.into(),
                    v.options.into(),
                    v.metrics.into(),
                    v.score_quantiles.into(),
                    v.format_version.into(),
                    v.model.into(),
                    owner.as_str().into(),
                ],
            )?;
            t.first().get::<i32>(1)
        })
    });
    match res {
        Ok(Some(version)) => version,
        Ok(None) => pgrx::error!("ssad: inserting the model returned no version"),
        Err(e) => pgrx::error!("ssad: writing the model catalog failed: {e}"),
    }
}

fn model_exists(c: &mut pgrx::spi::SpiClient<'_>, name: &str) -> pgrx::spi::Result<bool> {
    let t = c.update(
        "SELECT EXISTS (SELECT 1 FROM ssad.models WHERE name = $1)",
        None,
        &[name.into()],
    )?;
    Ok(t.first().get::<bool>(1)? == Some(true))
}

/// Run catalog writes (`sql` with `args`) as the catalog's owner; the caller
/// has checked that the current role may make them. Returns the rows changed.
pub fn write(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> i64 {
    as_catalog_owner(|| Spi::connect_mut(|c| c.update(sql, None, args).map(|t| t.len() as i64)))
        .unwrap_or_else(|e| pgrx::error!("ssad: updating the model catalog failed: {e}"))
}

/// The arguments a model's latest version was trained with.
pub struct StoredArgs {
    pub source: String,
    /// The model columns of that version (a time attribute's parts included).
    pub model_columns: Vec<String>,
    pub columns: Option<Vec<String>>,
    pub exclude: Vec<String>,
    pub options: serde_json::Value,
}

pub fn train_args(name: &str) -> StoredArgs {
    let found = one::<pgrx::JsonB>(
        "SELECT jsonb_build_object('source', source, 'args', train_args,
                                   'model_columns', jsonb_path_query_array(columns, '$[*].name'))
           FROM ssad.models
          WHERE name = $1 ORDER BY active DESC, version DESC LIMIT 1",
        &[arg(name)],
    );
    let Some(pgrx::JsonB(v)) = found else {
        not_visible(name)
    };
    let strings = |x: &serde_json::Value| -> Option<Vec<String>> {
        x.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
    };
    StoredArgs {
        source: v["source"].as_str().unwrap_or_default().to_string(),
        model_columns: strings(&v["model_columns"]).unwrap_or_default(),
        columns: strings(&v["args"]["columns"]),
        exclude: strings(&v["args"]["exclude"]).unwrap_or_default(),
        options: v["args"]["options"].clone(),
    }
}

/// Keep the `keep` newest versions of a model (and always the active one);
/// 0 keeps every version.
pub fn prune_versions(name: &str, keep: i32) {
    if keep <= 0 {
        return;
    }
    write(
        "DELETE FROM ssad.models WHERE name = $1 AND NOT active
            AND version NOT IN (SELECT version FROM ssad.models WHERE name = $1 ORDER BY version DESC LIMIT $2)",
        &[name.into(), i64::from(keep).into()],
    );
}

/// The catalog's readable description of a model's columns and encodings.
pub fn columns_json(model: &ssad_core::Model) -> serde_json::Value {
    serde_json::json!(model
        .columns
        .iter()
        .zip(&model.encoders)
        .map(|(c, e)| serde_json::json!({"name": c.name, "kind": c.kind.as_str(), "encoding": e}))
        .collect::<Vec<_>>())
}
