//! Binding a row of any composite type to a model's columns, by name.

use crate::error;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::prelude::*;
use pgrx::AllocatedByRust;
use ssad_core::{ColumnKind, Model, Value};
use std::num::NonZeroUsize;

/// Where each model column sits in rows of one composite type.
pub struct Binding {
    pub type_id: pg_sys::Oid,
    pub typmod: i32,
    attrs: Vec<(NonZeroUsize, pg_sys::Oid)>,
}

/// The composite type identity (type oid, typmod) of a row datum.
///
/// # Safety
/// `datum` must be a composite (HeapTupleHeader) datum, as `anyelement` rows are
/// once the caller has checked the argument type is composite.
pub unsafe fn row_type(datum: pg_sys::Datum) -> (pg_sys::Oid, i32) {
    // SAFETY: per the contract above; detoasting returns the same pointer when not toasted.
    unsafe {
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        (
            pgrx::heap_tuple_header_get_type_id(header),
            pgrx::heap_tuple_header_get_typmod(header),
        )
    }
}

impl Binding {
    pub fn matches(&self, row_type: (pg_sys::Oid, i32)) -> bool {
        (self.type_id, self.typmod) == row_type
    }
}

pub fn bind(
    model: &Model,
    tuple: &PgHeapTuple<'_, AllocatedByRust>,
    row_type: (pg_sys::Oid, i32),
) -> Binding {
    let (type_id, typmod) = row_type;
    let mut attrs = Vec::with_capacity(model.columns.len());
    for col in &model.columns {
        let Some((attno, att)) = tuple.get_attribute_by_name(&col.name) else {
            error::raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!("the row has no column \"{}\", which the model needs", col.name),
                Some(format!(
                    "The model was trained on columns: {}.",
                    model.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                )),
                Some("Score rows of the trained table, or a ROW(...) cast to a type with the same column names."),
            )
        };
        let oid = att.type_oid().value();
        if crate::source::kind_of(oid) != Some(col.kind) {
            let tname = crate::spi_read::one::<String>(
                "SELECT format_type($1, NULL)",
                &[crate::spi_read::arg(oid)],
            )
            .unwrap_or_else(|| format!("type {}", oid.to_u32()));
            error::raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "column \"{}\" of the row has type {tname}, but the model expects {}",
                    col.name,
                    col.kind.as_str()
                ),
                None,
                Some("Cast the column to a matching type."),
            );
        }
        attrs.push((attno, oid));
    }
    Binding {
        type_id,
        typmod,
        attrs,
    }
}

fn numeric(
    tuple: &PgHeapTuple<'_, AllocatedByRust>,
    attno: NonZeroUsize,
    oid: pg_sys::Oid,
) -> Option<f64> {
    let r = match oid {
        pg_sys::INT2OID => tuple.get_by_index::<i16>(attno).map(|v| v.map(f64::from)),
        pg_sys::INT4OID => tuple.get_by_index::<i32>(attno).map(|v| v.map(f64::from)),
        pg_sys::INT8OID => tuple
            .get_by_index::<i64>(attno)
            .map(|v| v.map(|x| x as f64)),
        pg_sys::FLOAT4OID => tuple.get_by_index::<f32>(attno).map(|v| v.map(f64::from)),
        pg_sys::FLOAT8OID => tuple.get_by_index::<f64>(attno),
        pg_sys::NUMERICOID => tuple
            .get_by_index::<AnyNumeric>(attno)
            .map(|v| v.and_then(|n| f64::try_from(n).ok())),
        _ => Ok(None),
    };
    r.unwrap_or_else(|e| pgrx::error!("ssad: reading a row attribute failed: {e}"))
}

/// Read the bound attributes into `out`, in model column order.
pub fn read(
    model: &Model,
    tuple: &PgHeapTuple<'_, AllocatedByRust>,
    binding: &Binding,
    out: &mut Vec<Value<'static>>,
) {
    out.clear();
    for (col, &(attno, oid)) in model.columns.iter().zip(&binding.attrs) {
        out.push(match col.kind {
            ColumnKind::Numeric => numeric(tuple, attno, oid).map_or(Value::Null, Value::Num),
        });
    }
}
