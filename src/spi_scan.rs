//! Streaming a read-only query through an SPI cursor run into our own
//! `DestReceiver`: each row's datums are read from the executor's slot
//! directly (pgrx's per-value accessors cost a guarded FFI call per value,
//! and SPI's tuple table a copy and a deform per row).

use pgrx::prelude::*;
use std::ffi::CString;

/// One result row: its datums by 1-based ordinal, valid during the callback.
pub struct RawRow<'a> {
    datums: &'a [pg_sys::Datum],
    nulls: &'a [bool],
    types: &'a [pg_sys::Oid],
}

impl<'a> RawRow<'a> {
    /// A row of `datums` (NULL where `nulls`) of `types`, all of one length.
    pub fn new(datums: &'a [pg_sys::Datum], nulls: &'a [bool], types: &'a [pg_sys::Oid]) -> Self {
        RawRow {
            datums,
            nulls,
            types,
        }
    }

    /// The value at `ord` (1-based), copied into Rust-owned memory.
    pub fn get<T: FromDatum>(&self, ord: usize) -> Option<T> {
        let i = ord.checked_sub(1).filter(|&i| i < self.datums.len())?;
        // SAFETY: the datum comes from a deformed tuple of this result's
        // descriptor, of type types[i]; FromDatum copies what it keeps.
        unsafe { T::from_polymorphic_datum(self.datums[i], self.nulls[i], self.types[i]) }
    }

    /// A float8 column at `ord` without a conversion call (the scan's queries
    /// cast every number to float8 but numeric, converted here as scoring
    /// converts it).
    pub fn float8(&self, ord: usize) -> Option<f64> {
        let i = ord.checked_sub(1).filter(|&i| i < self.datums.len())?;
        if self.nulls[i] {
            return None;
        }
        if self.types[i] == pg_sys::NUMERICOID {
            return Some(crate::types::numeric_to_f64(self.datums[i]));
        }
        if self.types[i] != pg_sys::FLOAT8OID {
            return self.get::<f64>(ord);
        }
        // float8 is passed by value on 64-bit platforms (pgrx requires them).
        Some(f64::from_bits(self.datums[i].value() as u64))
    }

    /// Whether the `n` columns from `ord` (1-based) are all float8 and
    /// present in the row.
    pub fn float8_run(&self, ord: usize, n: usize) -> bool {
        ord.checked_sub(1)
            .filter(|&i| i + n <= self.datums.len())
            .and_then(|i| self.types.get(i..i + n))
            .is_some_and(|t| t.iter().all(|&t| t == pg_sys::FLOAT8OID))
    }

    /// The float8 column at `ord` of a run `float8_run` vouched for.
    #[inline]
    pub fn float8_of_run(&self, ord: usize) -> Option<f64> {
        let i = ord - 1;
        // float8 is passed by value on 64-bit platforms (pgrx requires them).
        (!self.nulls[i]).then(|| f64::from_bits(self.datums[i].value() as u64))
    }
}

/// What `stream` hands its callback.
pub enum Item<'a> {
    Row(&'a RawRow<'a>),
    /// After each fetch's rows (interrupts are checked before the next fetch).
    EndOfFetch,
}

/// The receiver the executor hands each result row to: the row's datums are
/// read straight from the executor's slot (no tuple is formed and copied
/// into an SPI table, and none deformed again).
#[repr(C)]
struct Receiver<'a> {
    /// First field: the executor sees a `DestReceiver`.
    base: pg_sys::DestReceiver,
    on: &'a mut dyn FnMut(Item<'_>),
    types: Vec<pg_sys::Oid>,
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(
    slot: *mut pg_sys::TupleTableSlot,
    this: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `this` is the `base` of a live `Receiver` (repr(C), first
    // field); the slot is the executor's, valid for this call.
    unsafe {
        let r = &mut *(this as *mut Receiver<'_>);
        pg_sys::slot_getallattrs(slot);
        let n = r
            .types
            .len()
            .min((*(*slot).tts_tupleDescriptor).natts as usize);
        let datums = std::slice::from_raw_parts((*slot).tts_values, n);
        let nulls = std::slice::from_raw_parts((*slot).tts_isnull, n);
        (r.on)(Item::Row(&RawRow {
            datums,
            nulls,
            types: &r.types,
        }));
    }
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn startup(
    this: *mut pg_sys::DestReceiver,
    _operation: std::ffi::c_int,
    typeinfo: pg_sys::TupleDesc,
) {
    // SAFETY: as in `receive_slot`; `typeinfo` is the result's descriptor.
    unsafe {
        let r = &mut *(this as *mut Receiver<'_>);
        let natts = (*typeinfo).natts;
        if r.types.len() != natts as usize {
            r.types = (1..=natts)
                .map(|i| pg_sys::SPI_gettypeid(typeinfo, i))
                .collect();
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn nothing(_this: *mut pg_sys::DestReceiver) {}

/// Rows in the first fetch of a stream.
const FIRST_FETCH: i64 = 1024;

/// The sizes of a stream's fetches, without end: the first ones short and
/// doubling up to `fetch`, so that whoever consumes them (the scoring pool)
/// starts after 1,024 rows instead of waiting for a whole fetch.
pub fn fetch_sizes(fetch: i64) -> impl Iterator<Item = i64> {
    let fetch = fetch.max(1);
    std::iter::successors(Some(fetch.min(FIRST_FETCH)), move |s| {
        Some((s * 2).min(fetch))
    })
}

/// Run `query` read-only and stream its rows in fetches of up to `fetch`
/// (the first ones shorter, see `FIRST_FETCH`).
pub fn stream(query: &str, fetch: i64, mut on: impl FnMut(Item<'_>)) {
    let Ok(sql) = CString::new(query) else {
        pgrx::error!("ssad: internal query contains a NUL byte")
    };
    let mut receiver = Receiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(startup),
            rShutdown: Some(nothing),
            rDestroy: Some(nothing),
            mydest: pg_sys::CommandDest::DestNone,
        },
        on: &mut on,
        types: Vec::new(),
    };
    // SAFETY: the standard SPI protocol on the backend thread; the cursor is
    // run by `PortalRunFetch` (what `SPI_cursor_fetch` calls) with our
    // receiver instead of SPI's tuple table. An error raised by Postgres
    // unwinds through pgrx's guards and the transaction abort releases the
    // SPI connection, the cursor and their memory.
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
        // One pointer to the whole receiver, used for every access while
        // the executor holds it.
        let this: *mut Receiver<'_> = &mut receiver;
        for size in fetch_sizes(fetch) {
            pg_sys::check_for_interrupts!();
            let n = pg_sys::PortalRunFetch(
                portal,
                pg_sys::FetchDirection::FETCH_FORWARD,
                size as std::ffi::c_long,
                this.cast(),
            );
            if n > 0 {
                ((*this).on)(Item::EndOfFetch);
            }
            if n < size as u64 {
                break;
            }
        }
        pg_sys::SPI_cursor_close(portal);
        pg_sys::SPI_finish();
    }
}
