//! Every ssad setting, in one place. The `ssad` prefix is reserved so a typo
//! in `SET ssad.thraeds` is an error rather than a silently ignored setting.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Worker threads for training and batch scoring (per backend).
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(2);
/// Rows sampled for training when the options do not say.
pub static SAMPLE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(20_000);
/// Memory a training may use, in kB (`ssad_train`, `ssad_retrain`).
pub static TRAIN_MEMORY: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
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
        c"ssad.train_memory",
        c"Memory a training may use for its sample and its working buffers.",
        c"Like maintenance_work_mem for an index build: ssad_train estimates the memory of a training before it reads the source, samples fewer rows than sample_size asks for (with a NOTICE) when they do not fit, and refuses (SQLSTATE 53200) when not even 100 rows fit. The backend's own memory and shared buffers come on top.",
        &TRAIN_MEMORY,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
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

/// `ssad.train_memory` in bytes.
pub fn train_memory_bytes() -> u64 {
    TRAIN_MEMORY.get().max(0) as u64 * 1024
}

/// `ssad.train_memory` as `SHOW` prints it (1GB, 512MB, 1500kB).
pub fn train_memory_text() -> String {
    let kb = TRAIN_MEMORY.get().max(0) as u64;
    match kb {
        k if k % (1 << 20) == 0 => format!("{}GB", k >> 20),
        k if k % (1 << 10) == 0 => format!("{}MB", k >> 10),
        k => format!("{k}kB"),
    }
}
