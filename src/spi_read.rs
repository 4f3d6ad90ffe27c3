//! Read-only SPI. pgrx runs every SPI statement read-write once the
//! transaction has an xid, and read-write SPI starts a new command, which
//! Postgres refuses inside a parallel operation. Scoring is PARALLEL SAFE, so
//! its catalog reads go through here: SPI with `read_only = true`, always,
//! under the fixed search path of internal SQL (`guard::FixedSearchPath`).

use pgrx::prelude::*;
use std::ffi::CString;

/// An argument: its type and value (None for NULL).
pub type Arg = (pg_sys::Oid, Option<pg_sys::Datum>);

pub fn arg<T: IntoDatum>(v: T) -> Arg {
    (T::type_oid(), v.into_datum())
}

/// The first column of the first row of a read-only query, copied out of SPI memory.
pub fn one<T: FromDatum>(query: &str, args: &[Arg]) -> Option<T> {
    let Ok(sql) = CString::new(query) else {
        pgrx::error!("ssad: internal query contains a NUL byte")
    };
    let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.0).collect();
    let mut values: Vec<pg_sys::Datum> = args
        .iter()
        .map(|a| a.1.unwrap_or(pg_sys::Datum::from(0)))
        .collect();
    let mut nulls: Vec<std::ffi::c_char> = args
        .iter()
        .map(|a| if a.1.is_some() { b' ' as _ } else { b'n' as _ })
        .collect();
    let _path = crate::guard::FixedSearchPath::new();
    // SAFETY: standard SPI protocol on the backend thread; errors raise through
    // pgrx's guard and transaction abort cleans up the SPI connection.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("ssad: SPI_connect failed");
        }
        let rc = pg_sys::SPI_execute_with_args(
            sql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
            true,
            1,
        );
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            pgrx::error!("ssad: catalog query failed with SPI code {rc}");
        }
        let mut out = None;
        let table = pg_sys::SPI_tuptable;
        if pg_sys::SPI_processed > 0 && !table.is_null() {
            let tupdesc = (*table).tupdesc;
            let tuple = *(*table).vals;
            let mut is_null = false;
            let datum = pg_sys::SPI_getbinval(tuple, tupdesc, 1, &mut is_null);
            let typoid = pg_sys::SPI_gettypeid(tupdesc, 1);
            // FromDatum copies into Rust-owned memory before SPI_finish frees the tuple.
            out = T::from_polymorphic_datum(datum, is_null, typoid);
        }
        pg_sys::SPI_finish();
        out
    }
}
