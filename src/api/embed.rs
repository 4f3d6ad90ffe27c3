//! `ssad_embed`: the encoder's representation of a row.

use crate::callsite::{call_site, KeyRef};
use crate::error;
use pgrx::prelude::*;
use pgrx::AnyElement;

/// The encoder's representation of a row (its last hidden layer); cast it to
/// pgvector's `vector` for similarity search where that extension exists.
#[pg_extern(stable, strict, parallel_safe)]
fn ssad_embed(model_name: &str, r: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> Vec<f32> {
    let site = call_site(fcinfo, KeyRef::Name(model_name));
    site.load_row(&r);
    site.model
        .embed(&site.values)
        .unwrap_or_else(|e| error::core(e))
}
