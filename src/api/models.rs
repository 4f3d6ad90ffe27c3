//! Managing models as catalog objects: drop, activate (rollback), rename,
//! grant and revoke scoring, export and import between databases.

use crate::error::Kind;
use crate::{catalog, error};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;
use ssad_core::codec;

fn version_exists(name: &str, version: i32) -> bool {
    crate::spi_read::one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM ssad.models WHERE name = $1 AND version = $2)",
        &[crate::spi_read::arg(name), crate::spi_read::arg(version)],
    ) == Some(true)
}

fn undefined_version(name: &str, version: i32) -> ! {
    error::raise(
        Kind::UndefinedObject,
        format!("version {version} of ssad model \"{name}\" does not exist"),
        None,
        Some("List versions with SELECT * FROM ssad.model_versions."),
    )
}

/// Drop a model (every version, and its grants) or one inactive version.
/// Returns the number of versions dropped.
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_drop(model_name: Option<&str>, version: default!(Option<i32>, "NULL")) -> i64 {
    let model_name = error::required(model_name, "model_name");
    catalog::require_owner(model_name);
    catalog::lock_name(model_name, true);
    let dropped = match version {
        None => {
            catalog::write(
                "DELETE FROM ssad.model_grants WHERE name = $1",
                &[model_name.into()],
            );
            catalog::write(
                "DELETE FROM ssad.models WHERE name = $1",
                &[model_name.into()],
            )
        }
        Some(v) => {
            if !version_exists(model_name, v) {
                undefined_version(model_name, v);
            }
            let active = crate::spi_read::one::<bool>(
                "SELECT active FROM ssad.models WHERE name = $1 AND version = $2",
                &[crate::spi_read::arg(model_name), crate::spi_read::arg(v)],
            );
            if active == Some(true) {
                error::raise(
                    Kind::ObjectInUse,
                    format!("version {v} is the active version of ssad model \"{model_name}\""),
                    None,
                    Some("Activate another version first with ssad_activate(), or drop the whole model."),
                );
            }
            let dropped = catalog::write(
                "DELETE FROM ssad.models WHERE name = $1 AND version = $2",
                &[model_name.into(), v.into()],
            );
            // The number stays taken: the next version is numbered above it.
            catalog::write(
                "UPDATE ssad.models SET high_water = greatest(high_water, $2) WHERE name = $1",
                &[model_name.into(), v.into()],
            );
            dropped
        }
    };
    crate::api::cluster::propagate(&[model_name]);
    dropped
}

/// Make an existing version the active one (a rollback or roll-forward).
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_activate(model_name: &str, version: i32) -> i32 {
    catalog::require_owner(model_name);
    catalog::lock_name(model_name, true);
    if !version_exists(model_name, version) {
        undefined_version(model_name, version);
    }
    catalog::write(
        "UPDATE ssad.models SET active = false WHERE name = $1 AND active",
        &[model_name.into()],
    );
    catalog::write(
        "UPDATE ssad.models SET active = true WHERE name = $1 AND version = $2",
        &[model_name.into(), version.into()],
    );
    crate::api::cluster::propagate(&[model_name]);
    version
}

/// Rename a model (all its versions and grants).
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_rename(model_name: &str, new_name: &str) -> bool {
    catalog::require_owner(model_name);
    let new_name = new_name.trim();
    if new_name.is_empty() || new_name.len() > 63 {
        error::invalid_parameter(
            format!("invalid model name \"{new_name}\""),
            "Use 1 to 63 bytes.",
        );
    }
    if catalog::owner(new_name).is_some() {
        error::raise(
            Kind::DuplicateObject,
            format!("ssad model \"{new_name}\" already exists"),
            None,
            Some("Choose another name, or drop that model first."),
        );
    }
    catalog::lock_name(model_name, true);
    // The new name starts with the model's grants only.
    catalog::write(
        "DELETE FROM ssad.model_grants WHERE name = $1",
        &[new_name.into()],
    );
    catalog::write(
        "UPDATE ssad.models SET name = $2 WHERE name = $1",
        &[model_name.into(), new_name.into()],
    );
    catalog::write(
        "UPDATE ssad.model_grants SET name = $2 WHERE name = $1",
        &[model_name.into(), new_name.into()],
    );
    crate::api::cluster::propagate(&[model_name, new_name]);
    true
}

fn valid_role(role: &str) -> String {
    if role.eq_ignore_ascii_case("public") {
        return "public".into();
    }
    crate::spi_read::one::<String>(
        "SELECT pg_catalog.to_regrole($1)::text",
        &[crate::spi_read::arg(role)],
    )
    .map(|r| r.trim_matches('"').to_string())
    .unwrap_or_else(|| {
        error::raise(
            Kind::UndefinedObject,
            format!("role \"{role}\" does not exist"),
            None,
            Some("Name an existing role, or 'public'."),
        )
    })
}

/// Allow a role (or `public`) to see and score a model.
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_grant(model_name: &str, role: &str) -> bool {
    catalog::require_owner(model_name);
    let role = valid_role(role);
    catalog::write(
        "INSERT INTO ssad.model_grants (name, grantee) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[model_name.into(), role.as_str().into()],
    );
    crate::api::cluster::propagate(&[model_name]);
    true
}

/// Take back a role's permission to score a model.
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_revoke(model_name: &str, role: &str) -> bool {
    catalog::require_owner(model_name);
    let role = valid_role(role);
    catalog::write(
        "DELETE FROM ssad.model_grants WHERE name = $1 AND grantee = $2",
        &[model_name.into(), role.as_str().into()],
    );
    crate::api::cluster::propagate(&[model_name]);
    true
}

/// Magic of the export envelope: metadata (JSON) + model bytes.
const EXPORT_MAGIC: &[u8; 8] = b"SSADEXP1";

/// The active version of a model as a self-contained bytea for `ssad_import`.
#[pg_extern(stable, strict, parallel_safe)]
fn ssad_export(model_name: &str) -> Vec<u8> {
    let meta = crate::spi_read::one::<JsonB>(
        "SELECT jsonb_build_object('source', source, 'train_args', train_args, 'metrics', metrics, 'version', version)
           FROM ssad.models WHERE name = $1 AND active",
        &[crate::spi_read::arg(model_name)],
    )
    .unwrap_or_else(|| catalog::not_visible(model_name));
    let a = catalog::active(model_name);
    let model = catalog::model_bytes(a.id);
    let meta = meta.0.to_string().into_bytes();
    let mut out = Vec::with_capacity(12 + meta.len() + model.len());
    out.extend_from_slice(EXPORT_MAGIC);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&model);
    out
}

fn bad_export(why: &str) -> ! {
    error::raise(
        Kind::NotAnExport,
        format!("not an ssad export: {why}"),
        None,
        Some("Pass the bytea returned by ssad_export()."),
    )
}

/// Store an exported model as the new active version of `model_name`.
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_import(model_name: &str, data: &[u8]) -> i32 {
    let name = model_name.trim();
    if name.is_empty() || name.len() > 63 {
        error::invalid_parameter(
            format!("invalid model name \"{name}\""),
            "Use 1 to 63 bytes.",
        );
    }
    if data.len() < 12 || &data[..8] != EXPORT_MAGIC {
        bad_export("bad magic");
    }
    let meta_len = u32::from_le_bytes([data[8], data[9], data[10], data[11]]) as usize;
    let Some(meta) = data.get(12..12 + meta_len) else {
        bad_export("truncated metadata")
    };
    let meta: serde_json::Value =
        serde_json::from_slice(meta).unwrap_or_else(|_| bad_export("metadata is not JSON"));
    let bytes = &data[12 + meta_len..];
    // Decoding checks the magic, format version, shapes and checksum.
    let model = codec::decode(bytes).unwrap_or_else(|e| error::core(e));
    catalog::lock_name(name, true);
    let mut metrics = meta["metrics"].clone();
    metrics["imported_from_version"] = meta["version"].clone();
    let version = catalog::insert_version(catalog::NewVersion {
        name,
        source: meta["source"].as_str().unwrap_or("(unknown)"),
        train_args: JsonB(if meta["train_args"].is_object() {
            meta["train_args"].clone()
        } else {
            json!({})
        }),
        columns: JsonB(catalog::columns_json(&model)),
        options: JsonB(model.options.catalog_json()),
        metrics: JsonB(metrics),
        score_quantiles: model.score_quantiles.clone(),
        format_version: codec::FORMAT_VERSION as i32,
        model: bytes.to_vec(),
    });
    crate::api::cluster::propagate(&[name]);
    version
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::{make_table, sqlstate_of};
    use pgrx::prelude::*;

    fn train(seed: i32) -> Option<i32> {
        Spi::get_one::<i32>(&format!(
            "SELECT version FROM ssad_train('vm', 'vt', options => '{{\"epochs\": 1, \"seed\": {seed}}}')"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A version number never names two versions: after the newest version
    /// is dropped (a rollback, then the bad version dropped), the next one is
    /// numbered above it; a model dropped whole is a new object from 1.
    #[pg_test]
    fn a_dropped_version_number_is_not_reused() {
        make_table("vt", 300);
        assert_eq!((train(1), train(2)), (Some(1), Some(2)));
        Spi::run("SELECT ssad_activate('vm', 1); SELECT ssad_drop('vm', 2)")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(train(3), Some(3));
        assert_eq!(sqlstate_of("SELECT ssad_activate('vm', 2)"), "42704");
        // Pruning old versions does not lower the next number.
        Spi::run("SET LOCAL ssad.versions_kept = 1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((train(4), train(5)), (Some(4), Some(5)));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM ssad.models WHERE name = 'vm'"),
            Ok(Some(1))
        );
        Spi::run("SELECT ssad_drop('vm')").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(train(6), Some(1));
    }
}
