//! The one place where failures become Postgres errors with a SQLSTATE,
//! a message, a detail and a hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use ssad_core::CoreError;

/// Raise an ERROR; never returns.
pub fn raise(
    code: PgSqlErrorCode,
    message: String,
    detail: Option<String>,
    hint: Option<&str>,
) -> ! {
    let mut r = ErrorReport::new(code, message, "ssad");
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
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("ssad model \"{name}\" does not exist"),
        None,
        Some("Train one with ssad_train(), or list models with SELECT * FROM ssad.models."),
    )
}

pub fn undefined_column(column: &str, relation: &str, hint: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        format!("column \"{column}\" does not exist in {relation}"),
        None,
        Some(hint),
    )
}

pub fn unsupported_type(column: &str, type_name: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        format!("column \"{column}\" has type {type_name}, which ssad does not support"),
        Some(format!("Supported types: {}.", crate::types::SUPPORTED)),
        Some("Leave the column out with exclude => ARRAY['...'], or cast it in a view."),
    )
}

pub fn invalid_parameter(message: String, hint: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        None,
        Some(hint),
    )
}

/// The hint of a training that does not fit in its memory.
pub const TRAIN_MEMORY_HINT: &str =
    "Raise ssad.train_memory (SET ssad.train_memory = '4GB'), or train on fewer columns or a smaller sample_size.";

/// Refuse a training whose smallest sample does not fit in
/// `ssad.train_memory`, before it allocates it.
pub fn train_memory(rows: usize, columns: usize, needed: u64, why: Option<&str>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
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
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            msg,
            None,
            Some(&format!(
                "Valid keys: {}.",
                ssad_core::options::KEYS.join(", ")
            )),
        ),
        CoreError::NotEnoughData(_) => raise(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            msg,
            None,
            Some("Train on a table with more rows or with varying columns."),
        ),
        CoreError::RowMismatch(_) => raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            msg,
            None,
            Some("Pass a row with the columns the model was trained on."),
        ),
        CoreError::CorruptModel(_) | CoreError::UnsupportedFormat { .. } => raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            msg,
            None,
            Some("Retrain the model, or upgrade the ssad extension."),
        ),
        CoreError::Cancelled => raise(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, msg, None, None),
        CoreError::Internal(_) => raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            msg,
            None,
            Some("This is a bug in ssad; please report it with the query."),
        ),
        CoreError::OutOfMemory(_) => raise(
            PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            msg,
            None,
            Some(TRAIN_MEMORY_HINT),
        ),
        CoreError::Diverged(_) => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
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
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
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
                    PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                    format!("{argument} must not contain NULL"),
                    None,
                    Some("Name each column as a string."),
                )
            })
        })
        .collect()
}
