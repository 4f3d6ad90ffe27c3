//! The model catalog: schema `ssad`, one row per model version, kept by
//! pg_dump (table and sequence are marked as extension configuration).

use crate::error;
use pgrx::prelude::*;

pgrx::extension_sql!(
    r#"
CREATE SCHEMA IF NOT EXISTS ssad;
COMMENT ON SCHEMA ssad IS 'ssad model catalog';

CREATE TABLE ssad.models (
    id             bigserial PRIMARY KEY,
    name           text        NOT NULL CHECK (name <> '' AND length(name) <= 63),
    version        integer     NOT NULL CHECK (version > 0),
    source         text        NOT NULL,
    columns        jsonb       NOT NULL,
    options        jsonb       NOT NULL,
    metrics        jsonb       NOT NULL,
    format_version integer     NOT NULL CHECK (format_version > 0),
    model          bytea       NOT NULL,
    owner          name        NOT NULL DEFAULT current_user,
    created_at     timestamptz NOT NULL DEFAULT now(),
    active         boolean     NOT NULL DEFAULT false,
    UNIQUE (name, version)
);
CREATE UNIQUE INDEX models_one_active ON ssad.models (name) WHERE active;
COMMENT ON TABLE ssad.models IS 'ssad models: one row per trained version; the active row is the one scoring uses';

SELECT pg_catalog.pg_extension_config_dump('ssad.models', '');
SELECT pg_catalog.pg_extension_config_dump('ssad.models_id_seq', '');

GRANT USAGE ON SCHEMA ssad TO PUBLIC;
GRANT SELECT ON ssad.models TO PUBLIC;
"#,
    name = "catalog",
    bootstrap
);

/// The active version of a model, as scoring needs it.
pub struct ActiveModel {
    pub id: i64,
    pub version: i32,
}

pub fn active(name: &str) -> ActiveModel {
    // One read-only query returning both fields as text keeps this on the
    // parallel-safe path (see spi_read).
    let found = crate::spi_read::one::<String>(
        "SELECT id::text || ':' || version::text FROM ssad.models WHERE name = $1 AND active",
        &[crate::spi_read::arg(name)],
    );
    let parsed = found.as_deref().and_then(|s| {
        let (id, version) = s.split_once(':')?;
        Some(ActiveModel {
            id: id.parse().ok()?,
            version: version.parse().ok()?,
        })
    });
    parsed.unwrap_or_else(|| error::undefined_model(name))
}

pub fn model_bytes(id: i64) -> Vec<u8> {
    crate::spi_read::one::<Vec<u8>>(
        "SELECT model FROM ssad.models WHERE id = $1",
        &[crate::spi_read::arg(id)],
    )
    .unwrap_or_else(|| pgrx::error!("ssad: model row {id} vanished from the catalog"))
}

/// What a new version row holds.
pub struct NewVersion<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub columns: pgrx::JsonB,
    pub options: pgrx::JsonB,
    pub metrics: pgrx::JsonB,
    pub format_version: i32,
    pub model: Vec<u8>,
}

/// Insert a new version and make it the active one; returns the version number.
/// An advisory transaction lock per name serialises concurrent trainings.
pub fn insert_version(v: NewVersion<'_>) -> i32 {
    let res = Spi::connect_mut(|c| {
        c.update(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ssad.models:' || $1))",
            None,
            &[v.name.into()],
        )?;
        c.update(
            "UPDATE ssad.models SET active = false WHERE name = $1 AND active",
            None,
            &[v.name.into()],
        )?;
        let t = c.update(
            "INSERT INTO ssad.models (name, version, source, columns, options, metrics, format_version, model, active)
             SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, true
               FROM ssad.models WHERE name = $1
             RETURNING version",
            None,
            &[
                v.name.into(),
                v.source.into(),
                v.columns.into(),
                v.options.into(),
                v.metrics.into(),
                v.format_version.into(),
                v.model.into(),
            ],
        )?;
        t.first().get::<i32>(1)
    });
    match res {
        Ok(Some(version)) => version,
        Ok(None) => pgrx::error!("ssad: inserting the model returned no version"),
        Err(e) => pgrx::error!("ssad: writing the model catalog failed: {e}"),
    }
}
