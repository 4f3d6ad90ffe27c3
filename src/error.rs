//! The one place where failures become Postgres errors with a SQLSTATE,
//! a message, a detail and a hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use ssad_core::CoreError;

/// What went wrong, for the user: each kind is one SQLSTATE, and this enum
/// with `Kind::code` is the whole table of the SQLSTATEs ssad raises (the
/// README's table adds two that Postgres raises for ssad: 42602 for a
/// misspelt `ssad.` setting, the prefix being reserved in `gucs.rs`, and
/// 42501 for a direct write of a catalog table, which no role is granted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 42704: unknown model or version, unknown role, no model for a row's table.
    UndefinedObject,
    /// 42809: a source that is not a table, view or materialized view.
    WrongObjectType,
    /// 42725: several active models trained on a row's table.
    Ambiguous,
    /// 42703: a named column missing (train or score).
    UndefinedColumn,
    /// 42804: a column type not supported, no column to train on, a row of the wrong shape.
    DatatypeMismatch,
    /// 42501: not the owner, not granted, a worker's change of a model the caller does not own.
    InsufficientPrivilege,
    /// 22023: a bad option, empty name, bad k or contamination, a label other than 0 or 1, a column in both lists, a bad pushed model state.
    InvalidParameter,
    /// 22004: NULL where a value is required.
    NullValue,
    /// 22000: too few rows.
    DataException,
    /// 42P01: a source relation that does not exist (or was dropped since training).
    UndefinedTable,
    /// 57014: cancel, statement_timeout.
    Cancelled,
    /// 53200: a training that does not fit in ssad.train_memory.
    OutOfMemory,
    /// 42710: renaming onto an existing model.
    DuplicateObject,
    /// 55006: dropping the active version.
    ObjectInUse,
    /// 22P03: bytes that are not an export.
    NotAnExport,
    /// XX001: damaged model bytes.
    Corrupted,
    /// 0A000: on Citus, shard top-k of a table that is not distributed.
    NotSupported,
    /// 55000: on Citus, a worker answering with another version of the model.
    OutOfSync,
    /// 58000: on Citus, a shard's top-k failed on its worker.
    RemoteFailed,
    /// 22003: a training whose loss diverged.
    Diverged,
    /// XX000: a bug in ssad.
    Internal,
}

impl Kind {
    pub fn code(self) -> PgSqlErrorCode {
        match self {
            Kind::UndefinedObject => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            Kind::WrongObjectType => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            Kind::Ambiguous => PgSqlErrorCode::ERRCODE_AMBIGUOUS_FUNCTION,
            Kind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            Kind::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            Kind::InsufficientPrivilege => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            Kind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            Kind::NullValue => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Kind::DataException => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            Kind::UndefinedTable => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            Kind::Cancelled => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            Kind::OutOfMemory => PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            Kind::DuplicateObject => PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            Kind::ObjectInUse => PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            Kind::NotAnExport => PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
            Kind::Corrupted => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            Kind::NotSupported => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Kind::OutOfSync => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Kind::RemoteFailed => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
            Kind::Diverged => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            Kind::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
}

/// Raise an ERROR of `kind`; never returns.
pub fn raise(kind: Kind, message: String, detail: Option<String>, hint: Option<&str>) -> ! {
    let mut r = ErrorReport::new(kind.code(), message, "ssad");
    if let Some(d) = detail {
        r = r.set_detail(d);
    }
    if let Some(h) = hint {
        r = r.set_hint(h);
    }
    r.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn undefined_model(name: &str) -> ! {
    raise(
        Kind::UndefinedObject,
        format!("ssad model \"{name}\" does not exist"),
        None,
        Some("Train one with ssad_train(), or list models with SELECT * FROM ssad.models."),
    )
}

pub fn undefined_column(column: &str, relation: &str, hint: &str) -> ! {
    raise(
        Kind::UndefinedColumn,
        format!("column \"{column}\" does not exist in {relation}"),
        None,
        Some(hint),
    )
}

pub fn unsupported_type(column: &str, type_name: &str) -> ! {
    raise(
        Kind::DatatypeMismatch,
        format!("column \"{column}\" has type {type_name}, which ssad does not support"),
        Some(format!("Supported types: {}.", crate::types::SUPPORTED)),
        Some("Leave the column out with exclude => ARRAY['...'], or cast it in a view."),
    )
}

pub fn invalid_parameter(message: String, hint: &str) -> ! {
    raise(Kind::InvalidParameter, message, None, Some(hint))
}

/// The hint of a training that does not fit in its memory.
pub const TRAIN_MEMORY_HINT: &str =
    "Raise ssad.train_memory (SET ssad.train_memory = '4GB'), or train on fewer columns or a smaller sample_size.";

/// Refuse a training whose smallest sample does not fit in
/// `ssad.train_memory`, before it allocates it.
pub fn train_memory(rows: usize, columns: usize, needed: u64, why: Option<&str>) -> ! {
    raise(
        Kind::OutOfMemory,
        format!(
            "training does not fit in ssad.train_memory ({})",
            crate::gucs::train_memory_text()
        ),
        Some(format!(
            "A sample of {rows} rows of {columns} model columns, the least ssad trains on, needs about {} MB{}.",
            needed.div_ceil(1 << 20),
            why.map_or(String::new(), |w| format!(" ({w})"))
        )),
        Some(TRAIN_MEMORY_HINT),
    )
}

/// Map a core error to its SQLSTATE.
pub fn core(e: CoreError) -> ! {
    let msg = e.to_string();
    match e {
        CoreError::InvalidOption(_) => raise(
            Kind::InvalidParameter,
            msg,
            None,
            Some(&format!(
                "Valid keys: {}.",
                ssad_core::options::KEYS.join(", ")
            )),
        ),
        CoreError::NotEnoughData(_) => raise(
            Kind::DataException,
            msg,
            None,
            Some("Train on a table with more rows or with varying columns."),
        ),
        CoreError::RowMismatch(_) => raise(
            Kind::DatatypeMismatch,
            msg,
            None,
            Some("Pass a row with the columns the model was trained on."),
        ),
        CoreError::CorruptModel(_) | CoreError::UnsupportedFormat { .. } => raise(
            Kind::Corrupted,
            msg,
            None,
            Some("Retrain the model, or upgrade the ssad extension."),
        ),
        CoreError::Cancelled => raise(Kind::Cancelled, msg, None, None),
        CoreError::Internal(_) => raise(
            Kind::Internal,
            msg,
            None,
            Some("This is a bug in ssad; please report it with the query."),
        ),
        CoreError::OutOfMemory(_) => raise(Kind::OutOfMemory, msg, None, Some(TRAIN_MEMORY_HINT)),
        CoreError::Diverged(_) => raise(
            Kind::Diverged,
            msg,
            None,
            Some("Check the table for extreme values, or retrain with another seed."),
        ),
    }
}

/// A required argument of a non-strict function (one with defaults).
pub fn required<T>(value: Option<T>, argument: &str) -> T {
    value.unwrap_or_else(|| {
        raise(
            Kind::NullValue,
            format!("{argument} must not be NULL"),
            None,
            None,
        )
    })
}

/// The elements of a text[] argument; a NULL element is an error, as a NULL
/// argument is (pgrx would panic converting it).
pub fn no_null_elements(values: Vec<Option<String>>, argument: &str) -> Vec<String> {
    values
        .into_iter()
        .map(|v| {
            v.unwrap_or_else(|| {
                raise(
                    Kind::NullValue,
                    format!("{argument} must not contain NULL"),
                    None,
                    Some("Name each column as a string."),
                )
            })
        })
        .collect()
}
