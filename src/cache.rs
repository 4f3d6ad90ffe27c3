//! A bounded, backend-local LRU of decoded models keyed by (id, version), so a
//! new version (retrain, activate) is a different key and is picked up by the
//! next statement without any invalidation message. Shared (`Arc`) so that
//! a scan's scoring pool reads the cached model instead of a copy of it.

use crate::{catalog, error, gucs};
use ssad_core::{codec, Model};
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static MODELS: RefCell<Vec<(i64, i32, Arc<Model>)>> = const { RefCell::new(Vec::new()) };
}

/// The decoded model for a catalog row, from the cache or decoded now.
pub fn model(id: i64, version: i32) -> Arc<Model> {
    if let Some(m) = MODELS.with_borrow_mut(|v| {
        let i = v.iter().position(|e| e.0 == id && e.1 == version)?;
        let e = v.remove(i);
        let m = e.2.clone();
        v.insert(0, e);
        Some(m)
    }) {
        return m;
    }
    let bytes = catalog::model_bytes(id);
    let m = Arc::new(codec::decode(&bytes).unwrap_or_else(|e| error::core(e)));
    let cap = gucs::MODEL_CACHE_SIZE.get().max(1) as usize;
    MODELS.with_borrow_mut(|v| {
        v.insert(0, (id, version, m.clone()));
        v.truncate(cap);
    });
    m
}

/// The active model of `name`: one catalog lookup, then the cache.
pub fn active(name: &str) -> (i64, i32, Arc<Model>) {
    let a = catalog::active(name);
    (a.id, a.version, model(a.id, a.version))
}
