//! ssad: self-supervised anomaly detection inside PostgreSQL.
//!
//! This crate is thin glue: argument binding, SPI, the model catalog, the
//! per-backend model cache and SQLSTATE mapping. All numeric work lives in
//! `crates/ssad-core`.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod cache;
mod callsite;
mod catalog;
mod comments;
mod error;
mod gucs;
mod row;
mod source;
mod spi_read;
mod spi_scan;
#[cfg(any(test, feature = "pg_test"))]
mod testutil;
mod types;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_cron'",
            "cron.database_name = 'pgrx_tests'",
        ]
    }
}
