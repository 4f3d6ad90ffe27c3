//! Usage counters per model version (`ssad.model_stats`): rows scored inline,
//! rows flagged by `ssad_is_anomaly`, top-k scans and the rows they read.
//!
//! Scoring adds to a backend-local tally (a thread-local slot per model
//! version, found once per call site), so a row costs one increment. The
//! tally moves at the end of every transaction (commit or abort, parallel
//! workers' too): into shared memory when ssad is in
//! `shared_preload_libraries`, where every backend's counts meet, else into
//! this backend's own totals, which only this session sees.
//!
//! Shared memory holds `SLOTS` model versions; when it is full the version
//! counted least recently gives up its slot, as pg_stat_statements does.

use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Model versions counted in shared memory at once.
const SLOTS: usize = 4096;
/// Tally slots a backend keeps between transactions: past this many, the
/// tally is emptied at the end of a transaction (a call site finds its slot
/// again by key).
const TALLY_KEEP: usize = 64;

/// Counts of one model version (its catalog row's id).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub id: i64,
    pub scored: u64,
    pub flagged: u64,
    pub topk_scans: u64,
    pub topk_rows: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.scored += o.scored;
        self.flagged += o.flagged;
        self.topk_scans += o.topk_scans;
        self.topk_rows += o.topk_rows;
    }

    fn is_zero(&self) -> bool {
        self.scored == 0 && self.flagged == 0 && self.topk_scans == 0 && self.topk_rows == 0
    }
}

#[derive(Clone, Copy)]
struct Slot {
    counts: Counts,
    /// `Table::clock` when last added to: the eviction order.
    touched: u64,
}

/// The shared table: `used` slots filled from the front.
#[derive(Clone, Copy)]
pub struct Table {
    slots: [Slot; SLOTS],
    used: usize,
    clock: u64,
    /// When the counters were last reset (or the server started), as a
    /// `TimestampTz`.
    since: i64,
}

// SAFETY: plain `Copy` data without pointers.
unsafe impl PGRXSharedMemory for Table {}

impl Default for Table {
    fn default() -> Self {
        Table {
            slots: [Slot {
                counts: Counts::default(),
                touched: 0,
            }; SLOTS],
            used: 0,
            clock: 0,
            // SAFETY: reads the clock; called while the postmaster sets up shared memory.
            since: unsafe { pg_sys::GetCurrentTimestamp() },
        }
    }
}

impl Table {
    fn add(&mut self, c: &Counts) {
        self.clock += 1;
        let used = self.used;
        let i = match self.slots[..used].iter().position(|s| s.counts.id == c.id) {
            Some(i) => i,
            None if used < SLOTS => {
                self.used += 1;
                used
            }
            None => (0..SLOTS)
                .min_by_key(|&i| self.slots[i].touched)
                .unwrap_or(0),
        };
        let slot = &mut self.slots[i];
        if slot.counts.id != c.id || i == used {
            slot.counts = Counts {
                id: c.id,
                ..Counts::default()
            };
        }
        slot.counts.add(c);
        slot.touched = self.clock;
    }
}

static SHARED: PgLwLock<Table> = unsafe { PgLwLock::new(c"ssad_model_stats") };
/// Whether `SHARED` exists: ssad was loaded by `shared_preload_libraries`.
static IN_SHARED_MEMORY: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Counts of the current transaction, not yet moved.
    static TALLY: RefCell<Vec<Counts>> = const { RefCell::new(Vec::new()) };
    /// Without shared memory: this backend's moved counts.
    static LOCAL: RefCell<Vec<Counts>> = const { RefCell::new(Vec::new()) };
}

/// Set up at load: shared memory when preloaded, and the end-of-transaction
/// move either way.
// pg_shmem_init! tests the features of every PostgreSQL version pgrx knows,
// and this crate declares pg15 only.
#[allow(unexpected_cfgs)]
pub fn init() {
    // SAFETY: read during _PG_init on the postmaster's or backend's main thread.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        pg_shmem_init!(SHARED);
        IN_SHARED_MEMORY.store(true, Ordering::Relaxed);
    }
    // SAFETY: registers a plain function pointer for the life of the process.
    unsafe { pg_sys::RegisterXactCallback(Some(at_xact_end), std::ptr::null_mut()) };
}

/// Whether the counters are the server's (shared memory) or this session's.
pub fn scope() -> &'static str {
    if IN_SHARED_MEMORY.load(Ordering::Relaxed) {
        "server"
    } else {
        "session"
    }
}

/// A call site's handle on its tally slot: found by key once, then checked
/// by index on every use.
#[derive(Clone, Copy, Debug)]
pub struct Tally {
    id: i64,
    at: usize,
}

impl Tally {
    /// The handle of the model version whose catalog row is `id`.
    pub fn new(id: i64) -> Self {
        Tally { id, at: 0 }
    }

    fn with(&mut self, f: impl FnOnce(&mut Counts)) {
        TALLY.with_borrow_mut(|t| {
            if t.get(self.at).is_none_or(|c| c.id != self.id) {
                self.at = match t.iter().position(|c| c.id == self.id) {
                    Some(i) => i,
                    None => {
                        t.push(Counts {
                            id: self.id,
                            ..Counts::default()
                        });
                        t.len() - 1
                    }
                };
            }
            f(&mut t[self.at]);
        });
    }

    /// One row scored inline.
    pub fn scored(&mut self) {
        self.with(|c| c.scored += 1);
    }

    /// A flag on a row `scored` already counted.
    pub fn flagged(&mut self) {
        self.with(|c| c.flagged += 1);
    }

    /// One top-k scan that read `rows` rows.
    pub fn scan(&mut self, rows: u64) {
        self.with(|c| {
            c.topk_scans += 1;
            c.topk_rows += rows;
        });
    }
}

/// Move the transaction's tally (called by Postgres at every transaction's end).
#[pg_guard]
unsafe extern "C-unwind" fn at_xact_end(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    if matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
            | XACT_EVENT_PREPARE
    ) {
        flush();
    }
}

fn flush() {
    let pending: Vec<Counts> = TALLY.with_borrow_mut(|t| {
        let moved = t.iter().filter(|c| !c.is_zero()).copied().collect();
        if t.len() > TALLY_KEEP {
            t.clear();
        } else {
            t.iter_mut().for_each(|c| {
                *c = Counts {
                    id: c.id,
                    ..Counts::default()
                }
            });
        }
        moved
    });
    if pending.is_empty() {
        return;
    }
    if IN_SHARED_MEMORY.load(Ordering::Relaxed) {
        let mut table = SHARED.exclusive();
        for c in &pending {
            table.add(c);
        }
    } else {
        LOCAL.with_borrow_mut(|l| {
            for c in &pending {
                match l.iter_mut().find(|x| x.id == c.id) {
                    Some(x) => x.add(c),
                    None => l.push(*c),
                }
            }
        });
    }
}

/// Every counted model version (the current transaction's tally included),
/// and since when they count.
pub fn snapshot() -> (Vec<Counts>, Option<i64>) {
    let (mut all, since) = if IN_SHARED_MEMORY.load(Ordering::Relaxed) {
        let table = SHARED.share();
        let slots = table.slots[..table.used].iter().map(|s| s.counts).collect();
        (slots, Some(table.since))
    } else {
        (LOCAL.with_borrow(|l| l.clone()), None)
    };
    TALLY.with_borrow(|t| {
        for c in t.iter().filter(|c| !c.is_zero()) {
            match all.iter_mut().find(|x| x.id == c.id) {
                Some(x) => x.add(c),
                None => all.push(*c),
            }
        }
    });
    (all, since)
}

/// Forget every count (the server's, or this session's without shared memory).
pub fn reset() {
    TALLY.with_borrow_mut(Vec::clear);
    if IN_SHARED_MEMORY.load(Ordering::Relaxed) {
        let mut table = SHARED.exclusive();
        table.used = 0;
        // SAFETY: reads the clock.
        table.since = unsafe { pg_sys::GetCurrentTimestamp() };
    } else {
        LOCAL.with_borrow_mut(Vec::clear);
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::{Counts, Table, SLOTS};
    use pgrx::prelude::*;

    fn scored(t: &Table, id: i64) -> Option<u64> {
        t.slots[..t.used]
            .iter()
            .find(|s| s.counts.id == id)
            .map(|s| s.counts.scored)
    }

    /// A full table gives up the slot of the version counted least recently,
    /// and a version that comes back counts from zero.
    #[pg_test]
    fn a_full_table_gives_up_the_least_recently_counted_slot() {
        let count = |id: i64, n: u64| Counts {
            id,
            scored: n,
            ..Counts::default()
        };
        let mut t = Box::new(Table::default());
        for id in 0..SLOTS as i64 {
            t.add(&count(id, 1));
        }
        assert_eq!(t.used, SLOTS);
        // Version 0 counted again: version 1 is now the least recent.
        t.add(&count(0, 1));
        t.add(&count(10_000, 5));
        assert_eq!(t.used, SLOTS);
        assert_eq!(scored(&t, 1), None);
        assert_eq!(scored(&t, 0), Some(2));
        assert_eq!(scored(&t, 2), Some(1));
        assert_eq!(scored(&t, 10_000), Some(5));
        // Version 1 returns in version 2's slot, without its old count.
        t.add(&count(1, 3));
        assert_eq!((scored(&t, 1), scored(&t, 2)), (Some(3), None));
        assert_eq!(scored(&t, SLOTS as i64 - 1), Some(1));
    }
}
