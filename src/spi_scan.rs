//! Streaming a read-only query through a raw SPI cursor. Each fetched tuple
//! is deformed once and its datums read directly: pgrx's per-value accessors
//! cost a guarded FFI call per value, which dominated whole-table scans.

use pgrx::prelude::*;
use std::ffi::CString;

/// One fetched row: its datums by 1-based ordinal, valid until the next fetch.
pub struct RawRow<'a> {
    datums: &'a [pg_sys::Datum],
    nulls: &'a [bool],
    types: &'a [pg_sys::Oid],
}

impl RawRow<'_> {
    /// The value at `ord` (1-based), copied into Rust-owned memory.
    pub fn get<T: FromDatum>(&self, ord: usize) -> Option<T> {
        let i = ord.checked_sub(1).filter(|&i| i < self.datums.len())?;
        // SAFETY: the datum comes from a deformed tuple of this result's
        // descriptor, of type types[i]; FromDatum copies what it keeps.
        unsafe { T::from_polymorphic_datum(self.datums[i], self.nulls[i], self.types[i]) }
    }

    /// A float8 column at `ord` without a conversion call (the scan's queries
    /// cast every number to float8).
    pub fn float8(&self, ord: usize) -> Option<f64> {
        let i = ord.checked_sub(1).filter(|&i| i < self.datums.len())?;
        if self.nulls[i] {
            return None;
        }
        if self.types[i] != pg_sys::FLOAT8OID {
            return self.get::<f64>(ord);
        }
        // float8 is passed by value on 64-bit platforms (pgrx requires them).
        Some(f64::from_bits(self.datums[i].value() as u64))
    }
}

/// What `stream` hands its callback.
pub enum Item<'a> {
    Row(&'a RawRow<'a>),
    /// After each fetch's rows (interrupts are checked before the next fetch).
    EndOfFetch,
}

/// Run `query` read-only and stream its rows in fetches of `fetch`.
pub fn stream(query: &str, fetch: i64, mut on: impl FnMut(Item<'_>)) {
    let Ok(sql) = CString::new(query) else {
        pgrx::error!("ssad: internal query contains a NUL byte")
    };
    // SAFETY: the standard SPI protocol on the backend thread. An error raised
    // by Postgres unwinds through pgrx's guards and the transaction abort
    // releases the SPI connection, the cursor and their memory.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("ssad: SPI_connect failed");
        }
        let portal = pg_sys::SPI_cursor_open_with_args(
            std::ptr::null(),
            sql.as_ptr(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null(),
            true,
            0,
        );
        if portal.is_null() {
            pgrx::error!("ssad: could not open a cursor for the scan");
        }
        let (mut datums, mut nulls, mut types) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            pg_sys::check_for_interrupts!();
            pg_sys::SPI_cursor_fetch(portal, true, fetch);
            let table = pg_sys::SPI_tuptable;
            let n = pg_sys::SPI_processed as usize;
            if table.is_null() || n == 0 {
                break;
            }
            let td = (*table).tupdesc;
            let natts = (*td).natts as usize;
            if types.len() != natts {
                types = (1..=natts as i32)
                    .map(|i| pg_sys::SPI_gettypeid(td, i))
                    .collect();
                datums = vec![pg_sys::Datum::from(0); natts];
                nulls = vec![true; natts];
            }
            for t in 0..n {
                let tuple = *(*table).vals.add(t);
                pg_sys::heap_deform_tuple(tuple, td, datums.as_mut_ptr(), nulls.as_mut_ptr());
                on(Item::Row(&RawRow {
                    datums: &datums,
                    nulls: &nulls,
                    types: &types,
                }));
            }
            pg_sys::SPI_freetuptable(table);
            on(Item::EndOfFetch);
        }
        pg_sys::SPI_cursor_close(portal);
        pg_sys::SPI_finish();
    }
}
