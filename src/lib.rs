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
mod citus;
mod comments;
mod error;
mod guard;
mod gucs;
mod heap_read;
mod row;
mod source;
mod spi_read;
mod spi_scan;
mod stats;
#[cfg(any(test, feature = "pg_test"))]
mod testutil;
mod types;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // An error's DETAIL is for the user: pgrx adds a Rust backtrace to the
    // DETAIL of a Postgres error raised inside a Rust function whenever
    // backtraces are enabled, and RUST_BACKTRACE in the server's environment
    // (common on a Rust developer's machine) enables them. RUST_LIB_BACKTRACE
    // overrides it for captured backtraces only (a panic's own report still
    // follows RUST_BACKTRACE). Set while loading, before any capture caches
    // the choice; the backend is single-threaded here.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    gucs::init();
    stats::init();
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
