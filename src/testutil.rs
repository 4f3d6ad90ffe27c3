//! Helpers for `#[pg_test]`s: deterministic tables and SQLSTATE capture.

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;

/// A table with b = 2a + 1 (plus a little deterministic noise) and c in [0, 1).
pub fn make_table(name: &str, rows: i32) {
    Spi::run(&format!(
        "CREATE TABLE {name} AS
         SELECT (i % 50)::int AS a,
                (2 * (i % 50) + 1 + ((i * 7919) % 13) / 26.0)::float8 AS b,
                ((i * 104729) % 1000 / 1000.0)::numeric AS c
           FROM generate_series(1, {rows}) AS i"
    ))
    .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// The SQLSTATE a statement fails with, or "00000" when it succeeds. An
/// error SPI returns instead of raising (no SQLSTATE) reads as itself, so
/// no assertion on a SQLSTATE mistakes it for success.
pub fn sqlstate_of(sql: &str) -> String {
    let sql = sql.to_string();
    PgTryBuilder::new(|| match Spi::run(&sql) {
        Ok(()) => "00000".to_string(),
        Err(e) => format!("SPI error without a SQLSTATE: {e}"),
    })
    .catch_others(|e| match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => sqlstate(r.sql_error_code()),
        CaughtError::RustPanic { ereport, .. } => sqlstate(ereport.sql_error_code()),
    })
    .execute()
}

/// Unpack Postgres' MAKE_SQLSTATE encoding (6 bits per character) to "42704".
fn sqlstate(code: PgSqlErrorCode) -> String {
    let mut v = code as i32;
    (0..5)
        .map(|_| {
            let c = (((v & 0x3F) as u8) + b'0') as char;
            v >>= 6;
            c
        })
        .collect()
}
