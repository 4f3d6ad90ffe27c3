//! Per-call-site state for the row-taking functions: the model, the row
//! binding and scratch buffers live in `fn_extra` for the rest of the
//! statement; across statements the backend cache avoids re-decoding, and
//! the per-statement catalog lookup sees retrains and activations as soon as
//! they commit (never before: the lookup uses the statement's snapshot).

use crate::error::Kind;
use crate::{cache, catalog, error, row, source, stats};
use pgrx::prelude::*;
use pgrx::AnyElement;
use ssad_core::{Model, Scratch, Value};
use std::sync::Arc;

/// How a call names its model.
#[derive(Clone, PartialEq)]
pub enum Key {
    /// `ssad_score('model', r)`.
    Name(String),
    /// `ssad_score(r)`: the active model trained on r's table.
    RowType(pg_sys::Oid),
}

/// A key as a call passes it, compared with the cached one without allocating.
#[derive(Clone, Copy)]
pub enum KeyRef<'a> {
    Name(&'a str),
    RowType(pg_sys::Oid),
}

impl Key {
    fn is(&self, k: KeyRef<'_>) -> bool {
        match (self, k) {
            (Key::Name(a), KeyRef::Name(b)) => a == b,
            (Key::RowType(a), KeyRef::RowType(b)) => *a == b,
            _ => false,
        }
    }
}

impl KeyRef<'_> {
    fn owned(self) -> Key {
        match self {
            KeyRef::Name(n) => Key::Name(n.to_string()),
            KeyRef::RowType(o) => Key::RowType(o),
        }
    }
}

pub struct CallSite {
    key: Key,
    /// The argument type last checked to be composite (checked once, not per row).
    checked_type: Option<pg_sys::Oid>,
    pub model: Arc<Model>,
    pub scratch: Scratch,
    binding: Option<row::Binding>,
    pub values: Vec<Value<'static>>,
    /// This model version's usage counters (`ssad.model_stats`).
    pub tally: stats::Tally,
}

impl CallSite {
    /// See `row::Binding::display_type` (None before a row was bound).
    pub fn display_type(&self, j: usize) -> Option<pg_sys::Oid> {
        self.binding.as_ref().and_then(|b| b.display_type(j))
    }
}

fn require_composite(oid: pg_sys::Oid) {
    // SAFETY: a syscache lookup on a type oid Postgres handed us.
    let composite = oid == pg_sys::RECORDOID || unsafe { pg_sys::type_is_rowtype(oid) };
    if !composite {
        error::raise(
            Kind::DatatypeMismatch,
            "ssad scoring takes a row (a table alias or ROW(...)), not a scalar".into(),
            None,
            Some("Call it as ssad_score('model', t) with t the table's alias."),
        );
    }
}

/// The model name for a key (one catalog lookup for row types).
fn model_name(key: &Key) -> String {
    match key {
        Key::Name(n) => n.clone(),
        Key::RowType(oid) => {
            // SAFETY: a syscache lookup on a composite type oid.
            let relid = unsafe { pg_sys::typeidTypeRelid(*oid) };
            if relid == pg_sys::InvalidOid {
                error::raise(
                    Kind::UndefinedObject,
                    "this row is not a row of a table, so no model can be chosen for it".into(),
                    None,
                    Some("Name the model: ssad_score('model', r)."),
                );
            }
            catalog::active_for_source(&source::qualified_name(relid))
        }
    }
}

impl CallSite {
    pub fn new(key: Key) -> Self {
        let (id, _, model) = cache::active(&model_name(&key));
        let scratch = model.scratch();
        CallSite {
            key,
            checked_type: None,
            model,
            scratch,
            binding: None,
            values: Vec::new(),
            tally: stats::Tally::new(id),
        }
    }

    /// The row's datum, (re)binding when its type changed.
    fn bind(&mut self, r: &AnyElement) -> row::RowDatum {
        if self.checked_type != Some(r.oid()) {
            require_composite(r.oid());
            self.checked_type = Some(r.oid());
        }
        // SAFETY: the argument is a composite datum, checked just above.
        let row = unsafe { row::row_datum(r.datum()) };
        if !self.binding.as_ref().is_some_and(|b| b.matches(&row)) {
            self.binding = Some(row::Binding::new(&self.model, &row));
        }
        row
    }

    /// Bind `r` and keep a copy of its values in `values` (explain, embed).
    pub fn load_row(&mut self, r: &AnyElement) {
        let row = self.bind(r);
        let mut borrowed = Vec::new();
        if let Some(b) = &mut self.binding {
            b.read(&row, &mut borrowed);
        }
        self.values = borrowed.into_iter().map(Value::into_owned).collect();
    }

    /// Score `r`: its text values are read in place from the tuple, into a
    /// buffer reused across rows, so scoring allocates nothing per row.
    pub fn score_row(&mut self, r: &AnyElement) -> f64 {
        let row = self.bind(r);
        self.score_read(|b, vals| b.read(&row, vals))
    }

    /// Score the values `read` puts in the reused buffer through the binding.
    fn score_read<'a>(&mut self, read: impl FnOnce(&mut row::Binding, &mut Vec<Value<'a>>)) -> f64 {
        // An empty Vec<Value<'static>> is a valid Vec<Value<'a>>.
        let mut vals: Vec<Value<'a>> = std::mem::take(&mut self.values);
        if let Some(b) = &mut self.binding {
            read(b, &mut vals);
        }
        let score = self.model.score(&vals, &mut self.scratch);
        self.values = Value::recycle(vals);
        let score = score.unwrap_or_else(|e| error::core(e));
        self.tally.scored();
        score
    }

    /// Score the row a call passes one argument per column (the planner's
    /// rewrite, `crate::api::columns`): `names` gives the columns' names,
    /// read once per call site, and `args[first..]` their values.
    pub fn score_args(
        &mut self,
        fcinfo: pg_sys::FunctionCallInfo,
        args: &[pg_sys::NullableDatum],
        first: usize,
        names: impl FnOnce() -> Vec<String>,
    ) -> f64 {
        if !self.binding.as_ref().is_some_and(row::Binding::reads_args) {
            let names = names();
            if names.len() != args.len().saturating_sub(first) {
                error::invalid_parameter(
                    format!(
                        "{} column names for {} column values",
                        names.len(),
                        args.len().saturating_sub(first)
                    ),
                    "This function is the planner's rewrite of ssad_score on a table's row; call ssad_score instead.",
                );
            }
            // SAFETY: flinfo belongs to this call; argument types come from its expression.
            let types: Vec<pg_sys::Oid> = (first..args.len())
                .map(|i| unsafe { pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, i as i32) })
                .collect();
            if types.contains(&pg_sys::InvalidOid) {
                pgrx::error!("ssad: internal error: column argument types unknown");
            }
            self.binding = Some(row::Binding::for_args(&self.model, first, names, &types));
        }
        self.score_read(|b, vals| b.read_args(args, vals))
    }
}

/// The call site's state, created on first use and when the key changes.
/// Per row this neither allocates nor looks anything up: the key is compared
/// in place, and only a new or changed key builds a new site.
pub fn call_site<'a>(fcinfo: pg_sys::FunctionCallInfo, key: KeyRef<'_>) -> &'a mut CallSite {
    // SAFETY: fcinfo comes from Postgres for this call; the box lives in fn_mcxt.
    let mut slot = unsafe { pgrx::pg_func_extra(fcinfo, || None::<CallSite>) };
    if (*slot).as_ref().is_none_or(|c| !c.key.is(key)) {
        if let KeyRef::RowType(oid) = key {
            require_composite(oid);
        }
        *slot = Some(CallSite::new(key.owned()));
    }
    let ptr = slot.into_pg();
    // SAFETY: the allocation outlives this call (it is freed with fn_mcxt), and
    // Postgres calls a function's call site from one thread, one call at a time.
    unsafe { (*ptr).as_mut().unwrap_or_else(|| unreachable!()) }
}
