//! Binding a row of any composite type to a model's columns, by name, and
//! reading its values straight from the tuple's datums.

use crate::error;
use crate::error::Kind;
use crate::types::{self, ReadAs};
use pgrx::prelude::*;
use ssad_core::{time, ColumnKind, Model, Value};
use std::borrow::Cow;
use std::ffi::CStr;

/// How one model column is read from an attribute.
#[derive(Clone, Copy)]
enum Reader {
    /// Pass-by-value numbers read straight from the datum's bits, without
    /// a type dispatch per value (the common case of inline scoring).
    Float8,
    Float4,
    Int8,
    Int4,
    Int2,
    /// numeric, converted from its varlena.
    Numeric,
    /// money, through numeric (as `::numeric::float8` reads it for training).
    Money,
    Text {
        output_fn: pg_sys::Oid,
        trim: bool,
    },
    Boolean,
    Epoch,
    /// An interval's length in seconds.
    Seconds,
    Hour,
    Dow,
}

// `Reader::Float8` and `Reader::Int8` read the datum itself as the value.
const _: () = assert!(pg_sys::FLOAT8PASSBYVAL == 1);

/// Where each model column sits in rows of one composite type, or in the
/// arguments of a call the planner gave one argument per column.
pub struct Binding {
    source: Source,
    /// (attribute index, attribute type, reader) per model column.
    attrs: Vec<(usize, pg_sys::Oid, Reader)>,
}

/// Where a binding's attributes are read from.
enum Source {
    /// Composite datums of one row type: attribute i is the tuple's i-th.
    Row {
        type_id: pg_sys::Oid,
        typmod: i32,
        /// Where the row type's descriptor is read per row without a lookup.
        desc: CachedDesc,
        /// A row's deformed attributes (one per attribute of the type).
        datums: Vec<pg_sys::Datum>,
        nulls: Vec<bool>,
    },
    /// The call's arguments: attribute i is argument `first + i`.
    Args { first: usize },
}

/// A composite datum's type and its (detoasted) tuple header, read once per row.
pub struct RowDatum {
    header: pg_sys::HeapTupleHeader,
    type_id: pg_sys::Oid,
    typmod: i32,
}

/// # Safety
/// `datum` must be a composite (HeapTupleHeader) datum.
pub unsafe fn row_datum(datum: pg_sys::Datum) -> RowDatum {
    // SAFETY: per the contract; detoasting returns the same pointer when not toasted.
    unsafe {
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        RowDatum {
            header,
            type_id: pgrx::heap_tuple_header_get_type_id(header),
            typmod: pgrx::heap_tuple_header_get_typmod(header),
        }
    }
}

/// A row type's descriptor held across rows, as Postgres's own executor holds
/// it (`get_cached_rowtype`): a named composite type through its typcache
/// entry, whose `tupDesc_identifier` changes whenever the type is altered
/// (the binding is then rebuilt); a blessed record type's descriptor, which
/// lives for the backend's lifetime.
#[derive(Clone, Copy)]
enum CachedDesc {
    Named {
        entry: *mut pg_sys::TypeCacheEntry,
        identifier: u64,
    },
    Record(pg_sys::TupleDesc),
}

impl CachedDesc {
    fn new(type_id: pg_sys::Oid, typmod: i32) -> Self {
        // SAFETY: typcache lookups for a composite type Postgres handed us;
        // typcache entries are never freed, blessed record descriptors neither.
        unsafe {
            if type_id == pg_sys::RECORDOID {
                // The lookup pins; the record cache keeps its own reference
                // for the backend's lifetime, so unpin at once and keep the pointer.
                let td = pg_sys::lookup_rowtype_tupdesc_noerror(type_id, typmod, false);
                if !td.is_null() && (*td).tdrefcount >= 0 {
                    pg_sys::DecrTupleDescRefCount(td);
                }
                CachedDesc::Record(td)
            } else {
                let entry = pg_sys::lookup_type_cache(type_id, pg_sys::TYPECACHE_TUPDESC as i32);
                CachedDesc::Named {
                    entry,
                    identifier: (*entry).tupDesc_identifier,
                }
            }
        }
    }

    /// The descriptor, or None when the type changed since binding.
    fn current(&self) -> Option<pg_sys::TupleDesc> {
        match *self {
            CachedDesc::Record(td) => (!td.is_null()).then_some(td),
            // SAFETY: the entry pointer is permanent (see `new`).
            CachedDesc::Named { entry, identifier } => unsafe {
                ((*entry).tupDesc_identifier == identifier && !(*entry).tupDesc.is_null())
                    .then_some((*entry).tupDesc)
            },
        }
    }
}

/// Run `f` with the row type's descriptor, releasing it afterwards.
fn with_tupdesc<R>(type_id: pg_sys::Oid, typmod: i32, f: impl FnOnce(pg_sys::TupleDesc) -> R) -> R {
    // SAFETY: the typcache returns a pinned descriptor for a composite type, released below.
    unsafe {
        let td = pg_sys::lookup_rowtype_tupdesc(type_id, typmod);
        let r = f(td);
        if (*td).tdrefcount >= 0 {
            pg_sys::DecrTupleDescRefCount(td);
        }
        r
    }
}

fn type_name(oid: pg_sys::Oid) -> String {
    crate::spi_read::one::<String>("SELECT format_type($1, NULL)", &[crate::spi_read::arg(oid)])
        .unwrap_or_else(|| format!("type {}", oid.to_u32()))
}

fn missing_column(model: &Model, name: &str) -> ! {
    error::raise(
        Kind::UndefinedColumn,
        format!("the row has no column \"{name}\", which the model needs"),
        Some(format!(
            "The model was trained on columns: {}.",
            model.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
        Some("Score rows of the trained table, or a ROW(...) cast to a type with the same column names."),
    )
}

/// The reader of a model column from an attribute of type `oid`, a base
/// type (a domain's datums are its base type's: `bind_columns` resolves it).
fn reader_for(kind: ColumnKind, derived: Option<&str>, oid: pg_sys::Oid) -> Option<Reader> {
    let read = types::read_as(oid)?;
    Some(match (kind, derived, read) {
        // A time column also takes epoch seconds as a number (and a model
        // of formats 1 to 3 keeps its time columns as numeric ones).
        (ColumnKind::Numeric | ColumnKind::Time, None, ReadAs::Number) => match oid {
            pg_sys::FLOAT8OID => Reader::Float8,
            pg_sys::FLOAT4OID => Reader::Float4,
            pg_sys::INT8OID => Reader::Int8,
            pg_sys::INT4OID => Reader::Int4,
            pg_sys::INT2OID => Reader::Int2,
            _ => return None,
        },
        (ColumnKind::Numeric | ColumnKind::Time, None, ReadAs::Timestamp | ReadAs::Date) => {
            Reader::Epoch
        }
        (ColumnKind::Numeric, None, ReadAs::Duration) => Reader::Seconds,
        (ColumnKind::Numeric, None, ReadAs::Money) => Reader::Money,
        (ColumnKind::Numeric | ColumnKind::Time, None, ReadAs::Decimal) => Reader::Numeric,
        (ColumnKind::Categorical, None, ReadAs::Text | ReadAs::Printed) => {
            let (mut output_fn, mut varlena) = (pg_sys::InvalidOid, false);
            // SAFETY: a syscache lookup for a valid type oid.
            unsafe { pg_sys::getTypeOutputInfo(oid, &mut output_fn, &mut varlena) };
            // char(n)::text drops the padding; training read it that way.
            Reader::Text {
                output_fn,
                trim: oid == pg_sys::BPCHAROID,
            }
        }
        (ColumnKind::Categorical, None, ReadAs::Boolean) => Reader::Boolean,
        (ColumnKind::Categorical, Some(types::HOUR), ReadAs::Timestamp) => Reader::Hour,
        (ColumnKind::Categorical, Some(types::DOW), ReadAs::Timestamp | ReadAs::Date) => {
            Reader::Dow
        }
        _ => return None,
    })
}

/// (attribute index, type, reader) of each model column among `atts`
/// (name, type, dropped), by name: an exact name first, then a derived
/// time part of an attribute. Raises 42703 or 42804 for a missing or
/// mistyped column.
fn bind_columns(
    model: &Model,
    atts: &[(String, pg_sys::Oid, bool)],
) -> Vec<(usize, pg_sys::Oid, Reader)> {
    let find = |n: &str| {
        atts.iter()
            .position(|(name, _, dropped)| !dropped && name == n)
    };
    let mut attrs = Vec::with_capacity(model.columns.len());
    for col in &model.columns {
        // An exact name first; then a derived time part of an attribute.
        let (idx, derived) = match find(&col.name) {
            Some(i) => (i, None),
            None => {
                let part = [types::HOUR, types::DOW].into_iter().find_map(|sfx| {
                    col.name
                        .strip_suffix(sfx)
                        .and_then(|base| Some((find(base)?, sfx)))
                });
                match part {
                    Some((i, sfx)) => (i, Some(sfx)),
                    None => missing_column(model, &col.name),
                }
            }
        };
        let oid = atts[idx].1;
        // The readers, and `convert` telling a date from a timestamp, see a
        // domain's base type.
        let base = types::base_type(oid);
        let Some(reader) = reader_for(col.kind, derived, base) else {
            error::raise(
                Kind::DatatypeMismatch,
                format!(
                    "column \"{}\" of the row has type {}, but the model expects {}",
                    atts[idx].0,
                    type_name(oid),
                    match (col.kind, derived) {
                        (_, Some(_)) => "a date or timestamp",
                        (ColumnKind::Numeric | ColumnKind::Time, None) => {
                            "a number, date or timestamp"
                        }
                        (ColumnKind::Categorical, None) => "text, an enum or a boolean",
                    }
                ),
                None,
                Some("Cast the column to the type the model was trained on."),
            );
        };
        attrs.push((idx, base, reader));
    }
    attrs
}

impl Binding {
    /// The date, timestamp, interval or money type model column `j` reads
    /// as a number (None for every other column): explanations show its
    /// values as that type prints them.
    pub fn display_type(&self, j: usize) -> Option<pg_sys::Oid> {
        match self.attrs.get(j) {
            Some(&(_, oid, Reader::Epoch)) => Some(oid),
            Some(&(_, _, Reader::Seconds)) => Some(pg_sys::INTERVALOID),
            Some(&(_, _, Reader::Money)) => Some(pg_sys::MONEYOID),
            _ => None,
        }
    }

    /// Whether rows like `r` can be read with this binding: same type, not
    /// altered since binding.
    pub fn matches(&self, r: &RowDatum) -> bool {
        match &self.source {
            Source::Row {
                type_id,
                typmod,
                desc,
                ..
            } => (*type_id, *typmod) == (r.type_id, r.typmod) && desc.current().is_some(),
            Source::Args { .. } => false,
        }
    }

    /// Whether this binding reads a call's arguments.
    pub fn reads_args(&self) -> bool {
        matches!(self.source, Source::Args { .. })
    }

    /// Bind a model's columns to the attributes of the row's type.
    pub fn new(model: &Model, r: &RowDatum) -> Binding {
        let atts: Vec<(String, pg_sys::Oid, bool)> = with_tupdesc(r.type_id, r.typmod, |td| {
            // SAFETY: td is a valid descriptor for the lifetime of this closure.
            unsafe {
                (0..(*td).natts as usize)
                    .map(|i| {
                        let a = &*(*td).attrs.as_ptr().add(i);
                        let name = CStr::from_ptr(a.attname.data.as_ptr())
                            .to_string_lossy()
                            .into_owned();
                        (name, a.atttypid, a.attisdropped)
                    })
                    .collect()
            }
        });
        let natts = atts.len();
        Binding {
            source: Source::Row {
                type_id: r.type_id,
                typmod: r.typmod,
                desc: CachedDesc::new(r.type_id, r.typmod),
                datums: vec![pg_sys::Datum::from(0); natts],
                nulls: vec![true; natts],
            },
            attrs: bind_columns(model, &atts),
        }
    }

    /// Bind a model's columns to a call's arguments from `first` on, named
    /// `names` and typed `types` (the planner's per-column rewrite).
    pub fn for_args(
        model: &Model,
        first: usize,
        names: Vec<String>,
        types: &[pg_sys::Oid],
    ) -> Binding {
        let atts: Vec<(String, pg_sys::Oid, bool)> = names
            .into_iter()
            .zip(types)
            .map(|(n, &t)| (n, t, false))
            .collect();
        Binding {
            source: Source::Args { first },
            attrs: bind_columns(model, &atts),
        }
    }

    /// Read the bound arguments of a call into `out`, in model column order.
    /// `args` must be the arguments of a call this binding was made for.
    pub fn read_args<'a>(&self, args: &'a [pg_sys::NullableDatum], out: &mut Vec<Value<'a>>) {
        let Source::Args { first } = self.source else {
            pgrx::error!("ssad: internal error: a row binding read as arguments")
        };
        out.clear();
        for &(idx, oid, reader) in &self.attrs {
            let value = match args.get(first + idx) {
                Some(a) if !a.isnull => {
                    // SAFETY: a non-null argument of type `oid` (its declared type).
                    unsafe { convert(a.value, oid, reader) }
                }
                Some(_) => Value::Null,
                None => pgrx::error!("ssad: internal error: fewer arguments than bound columns"),
            };
            out.push(value);
        }
    }

    /// Read the bound attributes of the row into `out`, in model column order.
    /// The row must be of the bound type (see `matches`).
    pub fn read<'a>(&mut self, r: &'a RowDatum, out: &mut Vec<Value<'a>>) {
        if !self.matches(r) {
            // The buffers are sized for the bound type: never deform another into them.
            pgrx::error!("ssad: internal error: row type changed without rebinding");
        }
        let Source::Row {
            desc,
            datums,
            nulls,
            ..
        } = &mut self.source
        else {
            pgrx::error!("ssad: internal error: an argument binding read as a row")
        };
        let Some(td) = desc.current() else {
            pgrx::error!("ssad: internal error: row type altered without rebinding")
        };
        // SAFETY: the tuple header and the descriptor describe the same row
        // type, unaltered since binding (checked just above), and the output
        // arrays hold its natts entries. Nothing here can run an invalidation.
        unsafe {
            debug_assert_eq!((*td).natts as usize, datums.len());
            let mut tuple = pg_sys::HeapTupleData {
                t_len: pgrx::heap_tuple_header_get_datum_length(r.header) as u32,
                t_data: r.header,
                ..Default::default()
            };
            pg_sys::heap_deform_tuple(&mut tuple, td, datums.as_mut_ptr(), nulls.as_mut_ptr());
        }
        out.clear();
        for &(idx, oid, reader) in &self.attrs {
            let value = if nulls[idx] {
                Value::Null
            } else {
                // SAFETY: a non-null datum of type `oid`, as the binding checked.
                unsafe { convert(datums[idx], oid, reader) }
            };
            out.push(value);
        }
    }
}

/// Microseconds between the Unix and the Postgres (2000-01-01) epochs.
pub(crate) const PG_EPOCH_SECONDS: f64 = 946_684_800.0;

/// The characters of a text, varchar or char(n) datum, in place (detoasted
/// into the current memory context only when it is toasted).
///
/// # Safety
/// `d` must be a non-null varlena datum that outlives `'a`.
unsafe fn text_in_place<'a>(d: pg_sys::Datum, trim: bool) -> Cow<'a, str> {
    // SAFETY: per the contract; the detoasted copy lives in the call's context.
    let bytes: &'a [u8] = unsafe {
        let p = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
        std::slice::from_raw_parts(
            pgrx::varlena::vardata_any(p) as *const u8,
            pgrx::varlena::varsize_any_exhdr(p),
        )
    };
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    };
    match s {
        // char(n)::text drops the padding; training read it that way.
        Cow::Borrowed(b) if trim => Cow::Borrowed(b.trim_end_matches(' ')),
        Cow::Owned(o) if trim => Cow::Owned(o.trim_end_matches(' ').to_string()),
        other => other,
    }
}

/// # Safety
/// `d` must be a non-null datum of type `oid` that outlives `'a`.
unsafe fn convert<'a>(d: pg_sys::Datum, oid: pg_sys::Oid, reader: Reader) -> Value<'a> {
    // SAFETY: per the contract, each arm reads the datum as its own type.
    unsafe {
        match reader {
            // float8 and int8 are passed by value on 64-bit platforms, the
            // only ones pgrx 0.18 builds for; the narrower types sit in the
            // datum's low bits (as Postgres' DatumGetFloat4 etc. read them).
            Reader::Float8 => Value::Num(f64::from_bits(d.value() as u64)),
            Reader::Float4 => Value::Num(f64::from(f32::from_bits(d.value() as u32))),
            Reader::Int8 => Value::Num(d.value() as i64 as f64),
            Reader::Int4 => Value::Num(f64::from(d.value() as i32)),
            Reader::Int2 => Value::Num(f64::from(d.value() as i16)),
            Reader::Numeric => Value::Num(crate::types::numeric_to_f64(d)),
            Reader::Money => pgrx::direct_function_call_as_datum(pg_sys::cash_numeric, &[Some(d)])
                .and_then(|n| pgrx::direct_function_call::<f64>(pg_sys::numeric_float8, &[Some(n)]))
                .map_or(Value::Null, Value::Num),
            Reader::Boolean => {
                Value::Text(Cow::Borrowed(if d.value() != 0 { "true" } else { "false" }))
            }
            Reader::Text { trim, .. }
                if matches!(
                    oid,
                    pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID
                ) =>
            {
                Value::Text(text_in_place(d, trim))
            }
            Reader::Text { output_fn, trim } => {
                let c = pg_sys::OidOutputFunctionCall(output_fn, d);
                let mut s = CStr::from_ptr(c).to_string_lossy().into_owned();
                pg_sys::pfree(c.cast());
                if trim {
                    s.truncate(s.trim_end_matches(' ').len());
                }
                Value::Text(Cow::Owned(s))
            }
            Reader::Epoch => Value::Num(epoch(d, oid)),
            Reader::Seconds => Value::Num(seconds(d)),
            Reader::Hour => time::hour_value(Some(epoch(d, oid))),
            Reader::Dow => time::day_value(Some(epoch(d, oid))),
        }
    }
}

/// The length of a non-null interval in seconds, as `extract(epoch FROM
/// ...)::float8` gives it: exact in microseconds (a month of a whole year
/// 365.25 / 12 days, another month 30 days, a day 86,400 seconds), then one
/// rounding.
fn seconds(d: pg_sys::Datum) -> f64 {
    // SAFETY: a non-null interval datum points at its 16-byte struct.
    let iv = unsafe { &*(d.cast_mut_ptr::<pg_sys::Interval>()) };
    let (months, day, micros) = (
        i128::from(iv.month),
        i128::from(iv.day),
        i128::from(iv.time),
    );
    let secs = 31_557_600 * (months / 12) + 2_592_000 * (months % 12) + 86_400 * day;
    (micros + secs * 1_000_000) as f64 / 1e6
}

/// Seconds since the Unix epoch, as `extract(epoch FROM ...)` gives them;
/// infinite dates and timestamps become infinities. `d` is a non-null date,
/// timestamp or timestamptz (all passed by value).
fn epoch(d: pg_sys::Datum, oid: pg_sys::Oid) -> f64 {
    if oid == pg_sys::DATEOID {
        let days = d.value() as i32;
        match days {
            i32::MAX => f64::INFINITY,
            i32::MIN => f64::NEG_INFINITY,
            _ => days as f64 * 86_400.0 + PG_EPOCH_SECONDS,
        }
    } else {
        let micros = d.value() as i64;
        match micros {
            i64::MAX => f64::INFINITY,
            i64::MIN => f64::NEG_INFINITY,
            // One rounding, as `extract(epoch ...)::float8` makes (training
            // and top-k read times that way): exact in microseconds, then the
            // division. Dividing first and adding the epoch after rounded
            // twice, and disagreed in the last bit for about a quarter of
            // timestamps with fractional seconds. (Beyond 2^53 microseconds,
            // about the years 1685 and 2255, the sum rounds once more.)
            _ => (micros as i128 + PG_EPOCH_SECONDS as i128 * 1_000_000) as f64 / 1e6,
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// An interval's length in seconds is `extract(epoch ...)::float8`, bit
    /// for bit: years, months, days and microseconds, negative ones too.
    #[pg_test]
    fn interval_seconds_are_what_extract_gives() {
        let rows = Spi::connect(|c| {
            c.select(
                "SELECT iv, extract(epoch FROM iv)::float8
                   FROM (SELECT make_interval(years => i % 7 - 3, months => i % 29 - 14, days => i % 61 - 30,
                                              secs => (i * 7919 % 100003) * 1.234567 - 50000) AS iv
                           FROM generate_series(1, 2000) AS i) v",
                None,
                &[],
            )?
            .map(|r| Ok((r.get_datum_by_ordinal(1)?.value::<Interval>()?, r.get::<f64>(2)?)))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 2000);
        for (iv, want) in rows {
            let (Some(iv), Some(want)) = (iv, want) else {
                panic!("a NULL interval")
            };
            let got = super::seconds(iv.into_datum().unwrap_or_else(|| panic!()));
            assert_eq!(got.to_bits(), want.to_bits(), "{iv}");
        }
    }

    /// Inline scoring reads a time's epoch as training and top-k read it
    /// (`extract(epoch ...)::float8`): the same f64, bit for bit, for
    /// timestamps with microseconds, dates and infinities.
    #[pg_test]
    fn epoch_is_what_extract_gives() {
        let rows = Spi::connect(|c| {
            c.select(
                "SELECT ts, ts::timestamp AS t, ts::date AS d,
                        extract(epoch FROM ts)::float8, extract(epoch FROM ts::timestamp)::float8,
                        extract(epoch FROM ts::date)::float8
                   FROM (SELECT timestamptz '1970-01-01 00:00:00.000001+00' + (i * 7919 % 100003) * interval '1 day 00:00:01.234567' AS ts
                           FROM generate_series(1, 2000) AS i
                         UNION ALL VALUES ('infinity'::timestamptz), ('-infinity'), ('1900-01-01 12:34:56.789012+00')) v(ts)",
                None,
                &[],
            )?
            .map(|r| {
                Ok((
                    r.get_datum_by_ordinal(1)?.value::<TimestampWithTimeZone>()?,
                    r.get_datum_by_ordinal(2)?.value::<Timestamp>()?,
                    r.get_datum_by_ordinal(3)?.value::<Date>()?,
                    r.get::<f64>(4)?,
                    r.get::<f64>(5)?,
                    r.get::<f64>(6)?,
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 2003);
        for (tz, t, d, e_tz, e_t, e_d) in rows {
            let (Some(tz), Some(t), Some(d)) = (tz, t, d) else {
                panic!("a NULL time")
            };
            let (Some(e_tz), Some(e_t), Some(e_d)) = (e_tz, e_t, e_d) else {
                panic!("a NULL epoch")
            };
            let got_tz = super::epoch(
                tz.into_datum().unwrap_or_else(|| panic!()),
                pg_sys::TIMESTAMPTZOID,
            );
            let got_t = super::epoch(
                t.into_datum().unwrap_or_else(|| panic!()),
                pg_sys::TIMESTAMPOID,
            );
            let got_d = super::epoch(d.into_datum().unwrap_or_else(|| panic!()), pg_sys::DATEOID);
            assert_eq!(got_tz.to_bits(), e_tz.to_bits(), "{tz}");
            assert_eq!(got_t.to_bits(), e_t.to_bits(), "{t}");
            assert_eq!(got_d.to_bits(), e_d.to_bits(), "{d}");
        }
    }
}
