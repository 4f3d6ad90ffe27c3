//! Every ssad setting, in one place. The `ssad` prefix is reserved so a typo
//! in `SET ssad.thraeds` is an error rather than a silently ignored setting.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Worker threads for training and batch scoring (per backend).
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(2);
/// Rows sampled for training when the options do not say.
pub static SAMPLE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(20_000);
/// Decoded models kept per backend.
pub static MODEL_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16);

/// Whether the planner passes a table's row to the scoring functions as its
/// columns (`api::columns`); off runs every call on the whole row.
pub static INLINE_COLUMNS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Versions of a model kept after a training (0: keep all).
pub static VERSIONS_KEPT: GucSetting<i32> = GucSetting::<i32>::new(10);

pub fn init() {
    GucRegistry::define_int_guc(
        c"ssad.threads",
        c"Worker threads ssad uses for training and batch scoring.",
        c"Size of the explicit thread pool each backend uses; training options may override it per call.",
        &THREADS,
        1,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ssad.sample_size",
        c"Rows sampled uniformly from the source table for training.",
        c"Used when ssad_train's options do not set sample_size.",
        &SAMPLE_SIZE,
        100,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ssad.model_cache_size",
        c"Decoded models kept in each backend's cache.",
        c"A bounded least-recently-used cache keyed by model id and version.",
        &MODEL_CACHE_SIZE,
        1,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ssad.versions_kept",
        c"Versions of a model kept after each training (0 keeps all).",
        c"After ssad_train or ssad_retrain stores a new version, older inactive versions beyond this count are deleted.",
        &VERSIONS_KEPT,
        0,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"ssad.inline_columns",
        c"Pass a table's row to ssad_score, ssad_quantile and ssad_is_anomaly as its columns.",
        c"The planner rewrites a call on a table's whole row (under no outer join) into one with the row's columns, which saves forming a row value per row; the scores are the same. Off keeps every call as written. Takes effect for queries planned afterwards.",
        &INLINE_COLUMNS,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init with a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"ssad".as_ptr()) };
}
