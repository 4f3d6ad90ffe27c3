//! Two scopes every piece of ssad's internal SQL runs in.
//!
//! - `FixedSearchPath`: `search_path` is `pg_catalog, pg_temp` while it lives,
//!   so a name in internal SQL (a function, an operator, a type) never
//!   resolves through the caller's schemas: a role that puts its own `=` for
//!   `text` on its path does not get it run inside ssad. Only SQL that reads
//!   the caller's own relation (a source scan) keeps the caller's path, so
//!   that a view's functions resolve as they always do; that SQL qualifies
//!   every name it writes instead (`types::read_expr`).
//! - `AsCatalogOwner`: the current user is the owner of the catalog tables
//!   while it lives. Nobody but that owner may write `ssad.models` and
//!   `ssad.model_grants` directly (see `sql/catalog.sql`): ssad's functions
//!   check who may change a model, then write as the owner. Postgres resets
//!   the user on a transaction or subtransaction abort, and the guard on
//!   unwinding, so an error cannot leave the session as the owner.

use pgrx::prelude::*;
use std::ffi::CStr;

/// `search_path = pg_catalog, pg_temp` for this guard's lifetime (a GUC
/// nest level, as a function's `SET` clause makes: popped on drop or abort).
pub struct FixedSearchPath {
    nest_level: i32,
}

const INTERNAL_PATH: &CStr = c"pg_catalog, pg_temp";

impl FixedSearchPath {
    pub fn new() -> Self {
        // SAFETY: backend thread. GUC_ACTION_SAVE is what a function's SET
        // clause does (allowed in parallel workers too); the nest level is
        // popped in drop, or by transaction abort.
        unsafe {
            let nest_level = pg_sys::NewGUCNestLevel();
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                INTERNAL_PATH.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
            FixedSearchPath { nest_level }
        }
    }
}

impl Drop for FixedSearchPath {
    fn drop(&mut self) {
        // SAFETY: pops exactly the level `new` pushed, restoring the caller's path.
        unsafe { pg_sys::AtEOXact_GUC(true, self.nest_level) }
    }
}

/// Run `f` with the fixed search path.
pub fn fixed_path<T>(f: impl FnOnce() -> T) -> T {
    let _path = FixedSearchPath::new();
    f()
}

/// The current user as the owner of `ssad.models` for this guard's lifetime.
pub struct AsCatalogOwner {
    saved_user: pg_sys::Oid,
    saved_context: i32,
}

impl AsCatalogOwner {
    fn new() -> Self {
        let owner = fixed_path(|| {
            crate::spi_read::one::<pg_sys::Oid>(
                "SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'ssad.models'::pg_catalog.regclass",
                &[],
            )
        })
        .unwrap_or_else(|| pgrx::error!("ssad: the catalog table ssad.models is missing"));
        let mut saved_user = pg_sys::Oid::INVALID;
        let mut saved_context = 0;
        // SAFETY: backend thread; the same calls SECURITY DEFINER functions
        // and Postgres' own maintenance commands make to act as an owner.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
            pg_sys::SetUserIdAndSecContext(
                owner,
                saved_context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
            );
        }
        AsCatalogOwner {
            saved_user,
            saved_context,
        }
    }
}

impl Drop for AsCatalogOwner {
    fn drop(&mut self) {
        // SAFETY: restores exactly what `new` saved.
        unsafe { pg_sys::SetUserIdAndSecContext(self.saved_user, self.saved_context) }
    }
}

/// Write the catalog: `f` runs as the catalog's owner under the fixed
/// search path. The caller has already checked that the current role may
/// make this change (`catalog::require_owner` and friends).
pub fn as_catalog_owner<T>(f: impl FnOnce() -> T) -> T {
    let _path = FixedSearchPath::new();
    let _owner = AsCatalogOwner::new();
    f()
}

/// The current role's name (the one a new model is owned by).
pub fn current_role() -> String {
    // SAFETY: GetUserNameFromId returns a palloc'd copy or raises.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}
