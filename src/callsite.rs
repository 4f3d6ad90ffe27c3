//! Per-call-site state for the row-taking functions: the model, the row
//! binding and scratch buffers live in `fn_extra` for the rest of the
//! statement; across statements the backend cache avoids re-decoding.

use crate::{cache, error, row};
use pgrx::prelude::*;
use pgrx::AnyElement;
use ssad_core::{Model, Scratch, Value};
use std::rc::Rc;

/// Per-call-site state; lives in the call site's memory context.
pub struct CallSite {
    name: String,
    pub model: Rc<Model>,
    pub scratch: Scratch,
    binding: Option<row::Binding>,
    pub values: Vec<Value<'static>>,
}

impl CallSite {
    pub fn new(name: &str) -> Self {
        let (_, _, model) = cache::active(name);
        let scratch = model.scratch();
        CallSite {
            name: name.to_string(),
            model,
            scratch,
            binding: None,
            values: Vec::new(),
        }
    }

    /// Bind `r` (re-binding when the row type changes) and read its values.
    pub fn load_row(&mut self, r: &AnyElement) {
        if !is_composite(r.oid()) {
            error::raise(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                "ssad scoring takes a row (a table alias or ROW(...)), not a scalar".into(),
                None,
                Some("Call it as ssad_score('model', t) with t the table's alias."),
            );
        }
        let datum = r.datum();
        if !self.binding.as_ref().is_some_and(|b| b.matches(datum)) {
            // SAFETY: the argument is a composite datum, checked just above.
            self.binding = Some(unsafe { row::Binding::new(&self.model, datum) });
        }
        if let Some(b) = &mut self.binding {
            // SAFETY: composite, and of the bound row type.
            unsafe { b.read(datum, &mut self.values) };
        }
    }
}

fn is_composite(oid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup on a valid type oid.
    oid == pg_sys::RECORDOID || unsafe { pg_sys::type_is_rowtype(oid) }
}

/// The call site's state, created on first use and when the model name changes.
pub fn call_site<'a>(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> &'a mut CallSite {
    // SAFETY: fcinfo comes from Postgres for this call; the box lives in fn_mcxt.
    let mut slot = unsafe { pgrx::pg_func_extra(fcinfo, || None::<CallSite>) };
    if (*slot).as_ref().is_none_or(|c| c.name != name) {
        *slot = Some(CallSite::new(name));
    }
    let ptr = slot.into_pg();
    // SAFETY: the allocation outlives this call (it is freed with fn_mcxt), and
    // Postgres calls a function's call site from one thread, one call at a time.
    unsafe { (*ptr).as_mut().unwrap_or_else(|| unreachable!()) }
}
