//! The inline scoring path allocates nothing per row once its scratch is
//! warm: counted with a global allocator wrapper, for numeric (NaN and
//! extreme values among them), categorical and NULL values (the glue borrows
//! text values, so they allocate nothing here).

use ssad_core::rng::Rng;
use ssad_core::{thread_pool, train, ColumnKind, ColumnSpec, TrainOptions, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so tests running in parallel do not count each other's
    // allocations; a const-initialised Cell never allocates itself.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    // try_with: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn scoring_a_row_allocates_nothing_after_warm_up() {
    let specs: Vec<ColumnSpec> = (0..6)
        .map(|j| ColumnSpec {
            name: format!("c{j}"),
            kind: if j == 5 {
                ColumnKind::Categorical
            } else {
                ColumnKind::Numeric
            },
        })
        .collect();
    let mut rng = Rng::new(3);
    let cats = ["red", "green", "blue"];
    let rows: Vec<Vec<Value<'static>>> = (0..600)
        .map(|i| {
            let a = rng.normal();
            let mut r: Vec<Value<'static>> = (0..5)
                .map(|j| Value::Num(a * (j as f64 + 1.0) + 0.1 * rng.normal()))
                .collect();
            r.push(Value::Text(Cow::Borrowed(cats[i % 3])));
            r
        })
        .collect();
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let opts = TrainOptions {
        epochs: Some(3),
        ..Default::default()
    };
    let (model, _) =
        train(&specs, &rows, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
    let mut s = model.scratch();
    let mut probe: Vec<Vec<Value<'static>>> = rows[..50].to_vec();
    probe[3][1] = Value::Null;
    probe[4][5] = Value::Text(Cow::Borrowed("never seen"));
    probe[5][5] = Value::Null;
    // A NaN (a value of its own), values far beyond the range.
    probe[6][0] = Value::Num(f64::NAN);
    probe[7][2] = Value::Num(1e308);
    probe[8][1] = Value::Num(f64::NEG_INFINITY);
    // Warm-up: buffers sized on first use.
    model
        .score(&probe[0], &mut s)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = allocations();
    let mut total = 0.0;
    for r in &probe {
        total += model.score(r, &mut s).unwrap_or_else(|e| panic!("{e}"));
    }
    let after = allocations();
    assert!(total.is_finite());
    assert_eq!(
        after - before,
        0,
        "allocations while scoring {} rows",
        probe.len()
    );
}

#[test]
fn recycling_a_row_buffer_allocates_nothing() {
    let mut buf: Vec<Value<'static>> = Vec::with_capacity(8);
    let text = String::from("borrowed from the row");
    let before = allocations();
    for _ in 0..100 {
        let mut row: Vec<Value<'_>> = std::mem::take(&mut buf);
        row.push(Value::Num(1.0));
        row.push(Value::Text(Cow::Borrowed(text.as_str())));
        row.push(Value::Null);
        buf = Value::recycle(row);
    }
    assert_eq!(allocations() - before, 0);
    assert!(buf.is_empty() && buf.capacity() >= 8);
}
