//! Reading a plain table's heap directly for a whole-table scan: the model's
//! number columns are taken from each tuple at their fixed offsets, with no
//! query, no plan and no projection (on a 40-column table those cost as
//! much as the reading). Only where the executor would read exactly that
//! heap, as the caller, with nothing to filter; every other relation is read
//! through SPI (`spi_scan`), which applies what the executor applies.

use crate::source::Feed;
use crate::spi_scan::{self, Item, RawRow};
use crate::types::{self, ReadAs};
use pgrx::prelude::*;

/// How a model column is stored in the heap (every one is read as the
/// scan's `::float8` cast reads it: exact, or rounded to nearest for int8).
#[derive(Clone, Copy)]
enum Stored {
    F8,
    F4,
    I2,
    I4,
    I8,
}

impl Stored {
    fn of(type_oid: pg_sys::Oid) -> Option<Stored> {
        match types::base_type(type_oid) {
            pg_sys::FLOAT8OID => Some(Stored::F8),
            pg_sys::FLOAT4OID => Some(Stored::F4),
            pg_sys::INT2OID => Some(Stored::I2),
            pg_sys::INT4OID => Some(Stored::I4),
            pg_sys::INT8OID => Some(Stored::I8),
            _ => None,
        }
    }

    /// The value of a deformed datum of this type (all are passed by value
    /// on the 64-bit platforms pgrx requires).
    #[inline]
    fn of_datum(self, d: pg_sys::Datum) -> f64 {
        let bits = d.value() as u64;
        match self {
            Stored::F8 => f64::from_bits(bits),
            Stored::F4 => f64::from(f32::from_bits(bits as u32)),
            Stored::I2 => f64::from(bits as i16),
            Stored::I4 => f64::from(bits as i32),
            Stored::I8 => bits as i64 as f64,
        }
    }

    /// The value stored at `p`.
    ///
    /// # Safety
    /// `p` points to one readable value of this type.
    #[inline]
    unsafe fn at(self, p: *const u8) -> f64 {
        // SAFETY: the caller's; a tuple's data is only as aligned as its
        // attributes, so every read is unaligned.
        unsafe {
            match self {
                Stored::F8 => p.cast::<f64>().read_unaligned(),
                Stored::F4 => f64::from(p.cast::<f32>().read_unaligned()),
                Stored::I2 => f64::from(p.cast::<i16>().read_unaligned()),
                Stored::I4 => f64::from(p.cast::<i32>().read_unaligned()),
                Stored::I8 => p.cast::<i64>().read_unaligned() as f64,
            }
        }
    }
}

/// A model column: its attribute (0-based) and type.
struct Column {
    index: usize,
    stored: Stored,
}

/// Where the model columns sit in a tuple's data when every attribute up to
/// the last of them has a fixed width: what a tuple must hold to be read at
/// those offsets (attributes and data bytes), and each column's offset.
struct Fixed {
    natts: usize,
    end: usize,
    offsets: Vec<usize>,
}

/// A table to read directly, opened (and locked) by `open`.
pub struct Direct {
    rel: pg_sys::Relation,
    columns: Vec<Column>,
    /// None when some model column has no fixed offset.
    fixed: Option<Fixed>,
    /// Whether each row carries its table and ctid (`source::LOCATION`).
    location: bool,
}

/// The extra select expressions a direct read can give: none, or where the
/// row is (`source::LOCATION`).
fn location(extra: &[&str]) -> Option<bool> {
    match extra {
        [] => Some(false),
        x if x == crate::source::LOCATION => Some(true),
        _ => None,
    }
}

impl Direct {
    /// The direct read of `relid` for `feeds`, or None when the executor
    /// would do more than read its heap:
    /// - not a plain heap table (a view, a partitioned or foreign table, a
    ///   matview, another access method), or one with inheritance children;
    /// - a temporary table of another session, or an unlogged one (which a
    ///   standby cannot read);
    /// - row-level security applies to the caller, or the caller lacks
    ///   SELECT on the whole table (column privileges are the executor's
    ///   to check), or a module checks permissions (sepgsql, pgaudit);
    /// - Citus is installed (a distributed table's rows are not in its heap);
    /// - a model column that is not a float8, float4, int2, int4 or int8
    ///   (or a domain over one), or extras other than the row's location.
    pub fn open(relid: pg_sys::Oid, feeds: &[Feed], extra: &[&str]) -> Option<Direct> {
        #[cfg(any(test, feature = "pg_test"))]
        if tests::SPI_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let location = location(extra)?;
        if feeds.iter().any(|f| f.read != ReadAs::Number) {
            return None;
        }
        // SAFETY: catalog lookups and a relation open on the backend thread;
        // the hook is read, not called.
        unsafe {
            if pg_sys::get_rel_relkind(relid) != pg_sys::RELKIND_RELATION as std::ffi::c_char
                || (&raw const pg_sys::ExecutorCheckPerms_hook)
                    .read()
                    .is_some()
                || pg_sys::get_extension_oid(c"citus".as_ptr(), true) != pg_sys::InvalidOid
                || pg_sys::pg_class_aclcheck(relid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as _)
                    != pg_sys::AclResult::ACLCHECK_OK
                || !matches!(
                    pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true) as u32,
                    pg_sys::CheckEnableRlsResult::RLS_NONE
                        | pg_sys::CheckEnableRlsResult::RLS_NONE_ENV
                )
            {
                return None;
            }
            // The lock the executor would take, kept to the transaction's end.
            let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as _);
            let form = &*(*rel).rd_rel;
            let persistence = form.relpersistence as u8;
            let readable = persistence == pg_sys::RELPERSISTENCE_PERMANENT
                || (persistence == pg_sys::RELPERSISTENCE_TEMP && (*rel).rd_islocaltemp);
            let direct =
                (readable && form.relam == pg_sys::HEAP_TABLE_AM_OID && !form.relhassubclass)
                    .then(|| Self::columns(rel, feeds))
                    .flatten();
            match direct {
                Some((columns, fixed)) => Some(Direct {
                    rel,
                    columns,
                    fixed,
                    location,
                }),
                None => {
                    pg_sys::table_close(rel, pg_sys::NoLock as _);
                    None
                }
            }
        }
    }

    /// Each feed's column, and their fixed offsets (as `heap_fill_tuple`
    /// lays out a tuple without NULLs: each attribute aligned, in order).
    ///
    /// # Safety
    /// `rel` is an open relation.
    unsafe fn columns(
        rel: pg_sys::Relation,
        feeds: &[Feed],
    ) -> Option<(Vec<Column>, Option<Fixed>)> {
        // SAFETY: the caller's; the descriptor's attributes are its natts.
        let attrs = unsafe {
            let desc = (*rel).rd_att;
            (*desc).attrs.as_slice((*desc).natts as usize)
        };
        let mut offsets = Vec::with_capacity(attrs.len());
        let mut off = Some(0usize);
        for a in attrs {
            let align = match a.attalign as u8 {
                b'd' => 8,
                b'i' => 4,
                b's' => 2,
                _ => 1,
            };
            off = off
                .filter(|_| a.attlen > 0)
                .map(|o| o.next_multiple_of(align));
            offsets.push(off);
            off = off.map(|o| o + a.attlen as usize);
        }
        let columns = feeds
            .iter()
            .map(|f| {
                let index = attrs.iter().position(|a| {
                    !a.attisdropped
                        // SAFETY: attname is a NUL-terminated NameData.
                        && unsafe { std::ffi::CStr::from_ptr(a.attname.data.as_ptr()) }
                            .to_bytes()
                            == f.attribute.as_bytes()
                })?;
                Some(Column {
                    index,
                    stored: Stored::of(attrs[index].atttypid)?,
                })
            })
            .collect::<Option<Vec<Column>>>()?;
        let fixed = columns
            .iter()
            .map(|c| offsets[c.index])
            .collect::<Option<Vec<usize>>>()
            .filter(|_| !columns.is_empty())
            .map(|offsets| Fixed {
                natts: columns.iter().map(|c| c.index + 1).max().unwrap_or(0),
                end: columns
                    .iter()
                    .zip(&offsets)
                    .map(|(c, o)| o + attrs[c.index].attlen as usize)
                    .max()
                    .unwrap_or(0),
                offsets,
            });
        Some((columns, fixed))
    }

    /// Read every row the active snapshot sees, in the order a sequential
    /// scan gives, handing `on` each row (its location first when asked for,
    /// then the model columns as float8) and an end after each fetch of the
    /// sizes `spi_scan::fetch_sizes` gives. Interrupts are checked between
    /// fetches and on each page.
    pub fn stream(self, fetch: i64, on: &mut dyn FnMut(Item<'_>)) {
        let first = if self.location { 2 } else { 0 };
        let width = first + self.columns.len();
        let mut datums = vec![pg_sys::Datum::from(0usize); width];
        let mut nulls = vec![false; width];
        let mut types = vec![pg_sys::FLOAT8OID; width];
        if self.location {
            types[..2].copy_from_slice(&[pg_sys::OIDOID, pg_sys::TIDOID]);
        }
        // SAFETY: a heap scan of an open, locked heap relation under the
        // active snapshot, on the backend thread. A tuple's header and data
        // are valid until the next `heap_getnext`; fixed offsets are read
        // only from tuples without NULLs that hold every attribute up to the
        // last model column and all of its bytes. An error raised by
        // Postgres unwinds through pgrx's guards, and the transaction's abort
        // releases the scan's buffer pin and memory.
        unsafe {
            let desc = (*self.rel).rd_att;
            if self.location {
                datums[0] = pg_sys::Datum::from((*self.rel).rd_id);
            }
            let natts = (*desc).natts as usize;
            let (mut values, mut isnull) =
                (vec![pg_sys::Datum::from(0usize); natts], vec![true; natts]);
            let flags = pg_sys::ScanOptions::SO_TYPE_SEQSCAN
                | pg_sys::ScanOptions::SO_ALLOW_STRAT
                | pg_sys::ScanOptions::SO_ALLOW_SYNC
                | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
            let scan = pg_sys::heap_beginscan(
                self.rel,
                pg_sys::GetActiveSnapshot(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                flags,
            );
            'fetches: for size in spi_scan::fetch_sizes(fetch) {
                pg_sys::check_for_interrupts!();
                let mut n = 0;
                while n < size {
                    let tuple =
                        pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
                    if tuple.is_null() {
                        if n > 0 {
                            on(Item::EndOfFetch);
                        }
                        break 'fetches;
                    }
                    if self.location {
                        datums[1] = pg_sys::Datum::from(&raw mut (*tuple).t_self);
                    }
                    let header = (*tuple).t_data;
                    // A page's tuples lie from its end down, in the order the
                    // scan gives them: ask now for the one after next.
                    let len = (*tuple).t_len as usize;
                    ssad_core::kernels::prefetch(header.cast::<u8>().wrapping_sub(2 * len), len);
                    let data_at = (*header).t_hoff as usize;
                    let holds = |f: &&Fixed| {
                        (*header).t_infomask as u32 & pg_sys::HEAP_HASNULL == 0
                            && ((*header).t_infomask2 as u32 & pg_sys::HEAP_NATTS_MASK) as usize
                                >= f.natts
                            && len >= data_at + f.end
                    };
                    let cells = datums[first..].iter_mut().zip(&mut nulls[first..]);
                    if let Some(f) = self.fixed.as_ref().filter(holds) {
                        let data = header.cast::<u8>().add(data_at);
                        for (((d, null), c), &o) in cells.zip(&self.columns).zip(&f.offsets) {
                            *d = pg_sys::Datum::from(c.stored.at(data.add(o)).to_bits());
                            *null = false;
                        }
                    } else {
                        pg_sys::heap_deform_tuple(
                            tuple,
                            desc,
                            values.as_mut_ptr(),
                            isnull.as_mut_ptr(),
                        );
                        for ((d, null), c) in cells.zip(&self.columns) {
                            *null = isnull[c.index];
                            *d = pg_sys::Datum::from(c.stored.of_datum(values[c.index]).to_bits());
                        }
                    }
                    on(Item::Row(&RawRow::new(&datums, &nulls, &types)));
                    n += 1;
                }
                on(Item::EndOfFetch);
            }
            pg_sys::heap_endscan(scan);
            pg_sys::table_close(self.rel, pg_sys::NoLock as _);
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
pub mod tests {
    use super::Direct;
    use crate::source::{self, LOCATION};
    use pgrx::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Read every relation through SPI (for tests that compare the two).
    pub static SPI_ONLY: AtomicBool = AtomicBool::new(false);

    /// A scanned row: its table, block and offset, and each value's bits.
    type Seen = (Option<u32>, Option<(u32, u16)>, Vec<Option<u64>>);

    fn relid(name: &str) -> pg_sys::Oid {
        Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{name}'::regclass::oid"))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no relation {name}"))
    }

    fn feeds(name: &str, columns: &[&str]) -> Vec<source::Feed> {
        let id = relid(name);
        let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        source::select_columns(name, &source::columns_of(id), Some(&names), &[]).feeds
    }

    /// Every row `source::scan` reads of `name`, in fetches of 7 rows.
    fn read(name: &str, columns: &[&str], extra: &[&str], spi: bool) -> Vec<Seen> {
        SPI_ONLY.store(spi, Ordering::Relaxed);
        // A statement's snapshot, taken now: the test's own statement began
        // before its tables were written.
        // SAFETY: the backend thread; popped below.
        unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
        let mut seen = Vec::new();
        source::scan(
            relid(name),
            None,
            &feeds(name, columns),
            None,
            extra,
            7,
            false,
            |row| {
                if extra.is_empty() {
                    return (None, None);
                }
                let at = row.get::<pg_sys::ItemPointerData>(2).map(|t| {
                    let b = t.ip_blkid;
                    ((u32::from(b.bi_hi) << 16) | u32::from(b.bi_lo), t.ip_posid)
                });
                (row.get::<pg_sys::Oid>(1).map(|o| o.to_u32()), at)
            },
            |extras, rows| {
                for (r, (table, at)) in extras.into_iter().enumerate() {
                    let bits = rows
                        .row_values(r)
                        .map(|v| v.as_f64().map(f64::to_bits))
                        .collect();
                    seen.push((table, at, bits));
                }
                None
            },
        );
        // SAFETY: the snapshot pushed above.
        unsafe { pg_sys::PopActiveSnapshot() };
        SPI_ONLY.store(false, Ordering::Relaxed);
        seen
    }

    /// The heap read gives what the query gives, row for row and bit for
    /// bit: numbers of every width, NULLs, NaN, -0.0 and the infinities, a
    /// dropped column, a column added with a default after rows were
    /// written (those rows miss it), updated and deleted rows, a domain, a
    /// text column before the numbers (no fixed offsets) and fetch edges.
    #[pg_test]
    fn heap_read_gives_what_the_query_gives() {
        Spi::run(
            "CREATE DOMAIN pos AS float8 CHECK (VALUE IS NULL OR VALUE <> 'NaN');
             CREATE TABLE wide (a int4, b float8, gone int2, c float4, d int2, e int8, f text, g pos);
             INSERT INTO wide SELECT i, i * 0.37, 1, i / 3.0, i % 300, (1::int8 << 53) + i, 'x' || i, -i
               FROM generate_series(1, 40) AS i;
             INSERT INTO wide VALUES (NULL, 'NaN', 1, '-Infinity', NULL, -9223372036854775808, NULL, '-0'),
                                     (-2147483648, '-0', 1, 'NaN', -32768, 9223372036854775807, 'y', 'Infinity');
             ALTER TABLE wide DROP COLUMN gone;
             ALTER TABLE wide ADD COLUMN h float8 DEFAULT 2.5;
             INSERT INTO wide SELECT i, i, i, i, i, NULL, i, i FROM generate_series(1, 30) AS i;
             UPDATE wide SET b = b + 1 WHERE a % 5 = 0;
             DELETE FROM wide WHERE a % 7 = 0;
             CREATE TABLE texted (name text, x float8, y int4);
             INSERT INTO texted SELECT repeat('n', i % 9), i / 7.0, i FROM generate_series(1, 50) AS i;
             INSERT INTO texted VALUES (NULL, NULL, 3);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cases: [(&str, &[&str]); 4] = [
            // Fixed offsets (the text comes after them).
            ("wide", &["b", "c", "d", "e", "a"]),
            ("wide", &["b", "c", "d", "e", "g", "h", "a"]),
            ("wide", &["h"]),
            ("texted", &["y", "x"]),
        ];
        for (name, columns) in cases {
            let f = feeds(name, columns);
            assert!(
                Direct::open(relid(name), &f, &LOCATION).is_some(),
                "{name} is read directly"
            );
            for extra in [&LOCATION[..], &[]] {
                let direct = read(name, columns, extra, false);
                let spi = read(name, columns, extra, true);
                assert_eq!(direct.len(), if name == "wide" { 63 } else { 51 });
                assert_eq!(direct, spi, "{name} {columns:?} {extra:?}");
            }
        }
    }

    /// What the executor would do more than read the heap is left to it: a
    /// view, a table with children, row-level security for the caller, a
    /// caller without SELECT on the whole table, a text model column, other
    /// extras.
    #[pg_test]
    fn heap_read_is_only_for_plain_reads() {
        Spi::run(
            "CREATE TABLE plain (x float8, y float8, s text);
             CREATE VIEW seen AS SELECT * FROM plain;
             CREATE TABLE parent (x float8, y float8);
             CREATE TABLE child () INHERITS (parent);
             CREATE TABLE guarded (x float8, y float8);
             ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
             CREATE TABLE columned (x float8, y float8);
             CREATE ROLE ssad_heap_reader;
             GRANT SELECT ON plain, guarded TO ssad_heap_reader;
             GRANT SELECT (x, y) ON columned TO ssad_heap_reader;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let open = |name: &str, columns: &[&str], extra: &[&str]| {
            Direct::open(relid(name), &feeds(name, columns), extra).is_some()
        };
        assert!(open("plain", &["x", "y"], &LOCATION));
        assert!(open("plain", &["x", "y"], &[]));
        assert!(!open("plain", &["x", "s"], &LOCATION));
        assert!(!open("plain", &["x", "y"], &["t.x"]));
        assert!(!open("seen", &["x", "y"], &[]));
        assert!(!open("parent", &["x", "y"], &LOCATION));
        assert!(open("child", &["x", "y"], &LOCATION));
        // The owner is not subject to its table's policies; another role is.
        assert!(open("guarded", &["x", "y"], &LOCATION));
        Spi::run("SET ROLE ssad_heap_reader").unwrap_or_else(|e| panic!("{e}"));
        let as_reader = [
            open("plain", &["x", "y"], &LOCATION),
            open("guarded", &["x", "y"], &LOCATION),
            open("columned", &["x", "y"], &LOCATION),
        ];
        Spi::run("RESET ROLE").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(as_reader, [true, false, false]);
    }
}
