//! How much memory a training takes, before it starts: the caller bounds it
//! the way Postgres bounds a sort by `maintenance_work_mem`, sampling fewer
//! rows when the sample asked for does not fit (`max_rows`).
//!
//! The estimate adds up what training holds at once: the sample, a few
//! numbers a sampled row, and buffers whose size depends on the columns but
//! not on the rows (the networks, the calibration rows, the student's
//! training data). Each term is counted at its largest, though they do not
//! all peak at once: the estimate is meant to be above the peak, and
//! `examples/train_memory.rs` measures the peak resident memory of a
//! training against it (1.15 to 1.95 times the peak at commit 65b41b8, on
//! the column mixes its commit message lists; loosest where a text column's
//! categories, unknown before fitting, are assumed as many as can be).

use crate::encode::categorical::MAX_VOCAB;
use crate::options::TrainOptions;
use crate::train::{self, SECOND_LAYER_MAX};

/// What a training sample holds, for `estimate`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SampleShape {
    /// Model columns of each kind (a timestamp is one time and two
    /// categorical columns, a date one time and one categorical).
    pub numeric: usize,
    pub time: usize,
    pub categorical: usize,
    /// Of the numeric columns, those whose values are all 4-byte floats
    /// (`real`, `smallint`): a cell of 4 bytes, not 8 (`sample::Sample`).
    pub narrow: usize,
    /// Network input slots of the categorical columns at most: a category
    /// column's vocabulary plus "other" and NULL (`MAX_VOCAB + 2`), fewer
    /// for a boolean or a time part.
    pub categorical_slots: usize,
    /// Bytes a sampled row holds in distinct texts and their bookkeeping
    /// (`Sample::text_bytes` over its rows): 0 when every text repeats.
    pub text_bytes: f64,
    /// Rows the caller holds besides the sample while it reads the source
    /// (a fetch), at 8 bytes a cell plus their texts.
    pub fetch_rows: usize,
}

/// Input slots of a categorical column at most.
pub const CATEGORY_SLOTS: usize = MAX_VOCAB + 2;

impl SampleShape {
    /// Model columns.
    pub fn columns(&self) -> usize {
        self.numeric + self.time + self.categorical
    }

    /// Bytes of a sampled row: its cells and its share of the texts.
    pub fn row_bytes(&self) -> f64 {
        (4 * self.narrow + 8 * (self.columns() - self.narrow.min(self.numeric))) as f64
            + self.text_bytes
    }
}

/// The parts of `estimate`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// The sample.
    pub sample: u64,
    /// Training's own memory that grows with the sample's rows.
    pub per_row: u64,
    /// Training's memory that depends on the columns only, and the fetch.
    pub fixed: u64,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.sample + self.per_row + self.fixed
    }
}

/// Bytes training holds a sampled row besides the sample: the values of one
/// column while its encoder is fitted (a 24-byte `Value`, a sorted `f64` and
/// a distinct value with its count, 48 bytes), the row order and the
/// calibration's shuffle (`usize`s), and a categorical cell's code (1 byte).
const PER_ROW: usize = 48 + 8;
/// The allocator's own: the thread pool's stacks, arenas and fragmentation.
const BASE: u64 = 8 << 20;
/// Margin on the fixed buffers for what the terms leave out (small buffers,
/// rounding of allocations), from measurement (`examples/train_memory.rs`).
const SLACK: f64 = 1.10;

/// Peak bytes `train_sample` allocates for a sample of `rows` rows of
/// `shape` with options `opts` (unset options as `train` resolves them for
/// that many rows), plus the caller's fetch.
pub fn estimate(shape: &SampleShape, rows: usize, opts: &TrainOptions) -> Estimate {
    let d = shape.columns();
    let resolved = train::resolve_options(opts, rows);
    // Widest encodings: a nullable number takes two input slots.
    let numbers = shape.numeric + shape.time;
    let n_values = 2 * numbers + shape.categorical_slots;
    let n_in = n_values + d;
    let n_out = numbers + shape.categorical_slots;
    let h = resolved.hidden as usize;
    let h2 = h.min(SECOND_LAYER_MAX);
    let params = n_in * h + h + h * h2 + h2 + h2 * n_out + n_out;
    let batch = resolved.batch_size as usize;
    // The network, Adam's two moments, a gradient per chunk and their sum,
    // the copy calibration scores without the kNN term: 9 copies.
    let network = 9 * 4 * params;
    // A batch's inputs, activations and gradients.
    let activations = 3 * 4 * batch * (n_in + h + h2 + n_out);
    // Calibration: the candidates' kNN coordinates, the reference and its
    // search index, the linear term's coordinates and matrices.
    // A clean table's reference grows with the sample (`knn::reference_rows`)
    // and keeps each row's own distance (f64 while fitted, then f32).
    let ref_rows = crate::knn::reference_rows(rows, resolved.clean);
    let candidates = (ref_rows * 10).div_ceil(9) * d * 4;
    let own = if resolved.clean { 12 * ref_rows } else { 0 };
    let reference = 3 * ref_rows * d * 4 + own;
    let linear = 4096 * d * 4 + 4 * d * d * 8;
    // Distillation: the labelled inputs of every distillation row, a block
    // of rows of `Value`s and its labels.
    let distill = if resolved.distill {
        let n_in_student = n_values + 2 * d;
        crate::distill::distillation_count(rows, d) * (n_in_student + 1) * 4
            + 1024 * (d * 24 + 24 + 2 * n_in_student * 4)
    } else {
        0
    };
    let fetch = shape.fetch_rows as f64 * (8.0 * d as f64 + shape.text_bytes);
    let fixed =
        SLACK * (network + activations + candidates + reference + linear + distill) as f64 + fetch;
    Estimate {
        sample: (rows as f64 * shape.row_bytes()).ceil() as u64,
        per_row: (rows * (PER_ROW + shape.categorical)) as u64,
        fixed: BASE + fixed.ceil() as u64,
    }
}

/// The most rows (at most `cap`) whose training `estimate` fits in
/// `budget` bytes; 0 when not even one row does.
pub fn max_rows(shape: &SampleShape, budget: u64, opts: &TrainOptions, cap: usize) -> usize {
    let fits = |n: usize| estimate(shape, n, opts).total() <= budget;
    if fits(cap) {
        return cap;
    }
    // The estimate grows with the rows: bisect for the last that fits.
    let (mut lo, mut hi) = (0, cap);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reals(d: usize) -> SampleShape {
        SampleShape {
            numeric: d,
            narrow: d,
            fetch_rows: 10_000,
            ..Default::default()
        }
    }

    #[test]
    fn the_estimate_grows_with_rows_and_columns() {
        let o = TrainOptions::default();
        let mut last = 0;
        for n in [10, 100, 1000, 5000, 20_000, 200_000, 1_000_000] {
            let e = estimate(&reals(200), n, &o).total();
            assert!(e > last, "{n}: {e}");
            last = e;
        }
        assert!(estimate(&reals(20), 1000, &o).total() < estimate(&reals(200), 1000, &o).total());
        // A double column takes twice a real's sample bytes.
        let doubles = SampleShape {
            narrow: 0,
            ..reals(200)
        };
        let (a, b) = (
            estimate(&reals(200), 1000, &o),
            estimate(&doubles, 1000, &o),
        );
        assert_eq!((a.sample, b.sample), (800 * 1000, 1600 * 1000));
        // Texts add their bytes a row.
        let texts = SampleShape {
            text_bytes: 100.0,
            ..reals(200)
        };
        assert_eq!(estimate(&texts, 1000, &o).sample, 900 * 1000);
    }

    #[test]
    fn max_rows_is_the_last_row_count_that_fits() {
        let o = TrainOptions::default();
        let shape = reals(200);
        let budget = 500 << 20;
        let n = max_rows(&shape, budget, &o, 1_000_000);
        assert!(n > 100_000 && n < 1_000_000, "{n}");
        assert!(estimate(&shape, n, &o).total() <= budget);
        assert!(estimate(&shape, n + 1, &o).total() > budget);
        assert_eq!(max_rows(&shape, budget, &o, 5000), 5000);
        assert_eq!(max_rows(&shape, 1 << 20, &o, 5000), 0);
        // No distillation: its buffers are not counted.
        let plain = TrainOptions {
            distill: Some(false),
            ..Default::default()
        };
        assert!(max_rows(&shape, budget, &plain, 1_000_000) > n);
    }
}
