//! Distance to a stored reference sample of training rows, in the encoders'
//! robust-scaled space: the mean Euclidean distance to the k nearest reference
//! rows, divided by the reference rows' own mean (leave-one-out) distance. It
//! decomposes per column as sum_j (x_j - r_j)^2 / |x - r|, so explanations see it.
//!
//! The reference is the training sample minus its highest-scoring share, so
//! clustered anomalies inside a contaminated table cannot vouch for each other.

use crate::aligned::Aligned;
use crate::kernels::{self, Int8Query, GROUP_BYTES, INT8_LANES, KNN_BLOCK};

/// Reference rows a model may hold (at most): the largest reference the
/// grouped search (`Groups`) is built and tested for, and the codec's limit.
pub const REFERENCE_ROWS: usize = 16_384;
/// Reference rows of a small training sample, and the least a sample that
/// has them keeps.
pub const REFERENCE_ROWS_MIN: usize = 1024;
/// Reference rows a large training sample of a table that may hold
/// anomalies (the default) keeps. A larger reference lost in protocol A on
/// both halves of the shared tables (16,384 rows: celeba, cover, smtp -0.034
/// to -0.045; clustered anomalies in a larger reference vouch for each other
/// past the trims), so it grows only when the options declare the rows clean.
const REFERENCE_ROWS_CONTAMINATED: usize = REFERENCE_ROWS_MIN;
/// Reference rows a large sample of rows declared clean keeps. Measured in
/// protocol B with the harness (seeds 42 and 7, with `neighbours` and
/// `train::KNN_WEIGHT_CLEAN`): 4,096, 8,192 and 16,384 rows each raised both
/// halves, by 0.0064 / 0.0011, 0.0066 / 0.0009 and 0.0065 / 0.0006; cover
/// needs 8,192 to come within 0.002 of plain KNN over all rows, and 16,384
/// scored the large tables 2-6 times slower than 1,024 against 1.3-2.3 times.
const REFERENCE_ROWS_CLEAN: usize = 8192;
// The codec must accept what training stores.
const _: () = assert!(REFERENCE_ROWS_CLEAN <= REFERENCE_ROWS);

/// Reference rows kept (at most) from a training sample of `sample_rows`
/// rows: every row the trims leave, at least `REFERENCE_ROWS_MIN`; at most
/// `REFERENCE_ROWS_CLEAN` when the training rows are declared clean (no anomaly
/// can vouch for another there), else `REFERENCE_ROWS_CONTAMINATED`. More
/// reference rows bring the k nearest closer to those among all the table's
/// rows (plain KNN restricted to 1,024 random rows lost 0.02-0.08 AUROC on
/// the three largest unseen tables; with 16,384 it was within 0.015 of all
/// rows); the grouped search keeps the cost of a larger reference low.
pub fn reference_rows(sample_rows: usize, clean: bool) -> usize {
    let most = if clean {
        REFERENCE_ROWS_CLEAN
    } else {
        REFERENCE_ROWS_CONTAMINATED
    };
    sample_rows.clamp(REFERENCE_ROWS_MIN, most)
}

/// Neighbours a reference of `rows` rows averages: `K` up to
/// `REFERENCE_ROWS_MIN` rows, then growing with the square root of its size
/// (14 at 8,192), the classic rate at which a kNN density estimate keeps
/// its variance falling while its neighbourhood still shrinks. With `K`
/// fixed, a grown reference's distances on tables of many exact duplicates
/// (celeba's 39 flags) became all-or-nothing: celeba lost 0.037 at 16,384
/// rows, 0.015 with this rule (protocol B, against 1,024 rows).
pub fn neighbours(rows: usize) -> usize {
    let grow = (rows as f64 / REFERENCE_ROWS_MIN as f64).max(1.0).sqrt();
    (K as f64 * grow).round() as usize
}

/// Neighbours averaged.
pub const K: usize = 5;
/// How far the neighbours' local scale may stray from the global one
/// (`Reference::local_factor`): a factor of 2 at most either way.
const LOCAL_BOUND: f64 = 4.0;
/// Widest reference rotated to its principal axes (the eigen-decomposition
/// costs O(d^3) at load); wider ones only order their columns by variance.
const ROTATE_MAX_D: usize = 64;

#[derive(Clone, Debug)]
pub struct Reference {
    /// Columns per row.
    pub d: usize,
    pub k: usize,
    /// Row-major `n x d` scaled values.
    pub rows: Vec<f32>,
    /// Mean leave-one-out kNN distance of the reference rows (>0).
    pub norm: f32,
    /// Each reference row's own leave-one-out kNN distance (its local
    /// scale, whose mean is `norm`), stored by models trained on rows
    /// declared clean (format 7 on); empty: distances are divided by `norm`
    /// alone. See `local_factor`.
    pub local: Vec<f32>,
    /// Derived from `rows` when built or decoded: the search index.
    index: Index,
}

/// Equal when the stored parts are: the index is derived from them, and its
/// layout may differ between two loads of one model (`Reference::lay_out`
/// times the searches), never its neighbours.
impl PartialEq for Reference {
    fn eq(&self, other: &Self) -> bool {
        (self.d, self.k, &self.rows, self.norm.to_bits(), &self.local)
            == (
                other.d,
                other.k,
                &other.rows,
                other.norm.to_bits(),
                &other.local,
            )
    }
}

/// The search index: the rows in a rotated frame where distances are the same
/// but the leading axes carry most of the spread, cut into blocks of
/// `KNN_BLOCK` for the SIMD kernels. Exact distances are computed block by
/// block, only in blocks that a lower bound does not rule out given the k-th
/// best so far; every bound is conservative, so the neighbours are those of a
/// full scan. Two searches, each over its own layout of the rows:
/// - one row (`nearest`): each kd-tree leaf's lower bound from int8 copies
///   of the rows and the query (`Coarse`: a pass over a quarter of the
///   bytes, in integer dot products), then only the leaves it leaves in;
///   where there is no int8 copy, blocks sorted along the first axis,
///   visited outward from the query's position while the gap on that axis
///   alone is within the k-th best;
/// - many rows (`distance_batch`, blocks that are the leaves of a kd-tree, so
///   each is compact on every leading axis): each block's least
///   `|r|^2 - 2 x.r` (the expanded squared distance, with a rounding slack),
///   computed for a tile of queries at once so that each load of the
///   reference serves all of them.
#[derive(Clone, Debug, Default)]
struct Index {
    frame: Frame,
    /// Columns left out of the search, with the value every row has there.
    consts: Vec<(u32, f32)>,
    /// The one-row search's blocks without an int8 copy, sorted along the
    /// first axis (and the yardstick of `lay_out`).
    walk: Blocks,
    /// The blocks as kd-tree leaves: searched by the batch where bounding
    /// every block pays (`batch_bounds`, see `lay_out`; else it searches
    /// row by row), and by the one-row search through `coarse`.
    tiles: Option<Blocks>,
    /// An int8 copy of `tiles` that bounds every block for the one-row
    /// search (up to `COARSE_MAX_D` columns; else the first-axis walk).
    coarse: Option<Coarse>,
    /// Over `GROUP_MIN_BLOCKS` blocks: the boxes of `tiles`' groups of
    /// `INT8_LANES` blocks, which spare the one-row search the int8 bounds of
    /// the groups they rule out.
    groups: Option<Groups>,
    batch_bounds: bool,
    /// Per block of `walk`, the range of its rows on the first axis.
    lo: Vec<f32>,
    hi: Vec<f32>,
    /// The largest row norm, and the relative rounding slack of the bound:
    /// a row's expanded and direct squared distances each lie within
    /// `(m + 4) 2^-24 (|x| + |r|)^2` of the true one (m multiply-adds and a
    /// few roundings); the slack doubles that for both and again for margin.
    r_max: f64,
    slack: f64,
}

/// Reference rows in blocks of `KNN_BLOCK` for the SIMD kernels.
#[derive(Clone, Debug, Default)]
struct Blocks {
    /// Per block, dimension-major: value j of slot l at `j * KNN_BLOCK + l`
    /// (0 in the padding of the last block).
    vals: Aligned,
    /// Reference row of each slot (`u32::MAX` for the padding of the last block).
    slot_row: Vec<u32>,
    /// Squared norm of each slot's row in the frame (infinite for padding:
    /// its bound is infinite, and the search skips its slot).
    norms: Vec<f32>,
}

/// The rows of `tiles` as whole numbers of `step` in [-127, 127], for the
/// one-row search's bound pass (`Kernels::block_bounds_i8`). A row is at least
/// as far from the query as the int8 copies are from each other, less both
/// copies' rounding distances (the triangle inequality), so a block whose
/// bound exceeds the k-th best holds no neighbour. The pass reads a quarter
/// of the f32 layout's bytes with 4-byte integer dot products, and its
/// bounds are tight: on the shared tables where the search visits many
/// blocks (celeba, cover, mnist, satellite, cardio, letter), 4 to 7 of the 64
/// blocks hold a row they leave in, against the 55 of 64 that celeba's
/// first-axis walk visits.
#[derive(Clone, Debug, Default)]
struct Coarse {
    step: f64,
    /// Query bytes: the frame's columns rounded up to groups of 4.
    width: usize,
    /// The values as i8 in `Kernels::block_bounds_i8`'s layout (16 blocks
    /// side by side).
    vals: Aligned,
    /// Per super-block, slot and block, `|v|^2 + 256 sum v` in steps
    /// (`PAD_C` for padding).
    c: Vec<i32>,
    /// Per block, the largest distance of a row from its int8 copy (rounded up).
    err: Vec<f32>,
}

/// Per group of `INT8_LANES` consecutive blocks of `tiles` (a subtree of the
/// kd-tree: `kd_order` splits at whole groups), the box of its rows on the
/// frame's first `axes` axes. The squared gaps from a query to the box on
/// those axes sum to a lower bound of its squared distance to every row of
/// the group, so the one-row search computes the int8 bounds of a group's
/// blocks only where the box does not rule the group out: its cost grows
/// with the groups near the query, not with the reference.
#[derive(Clone, Debug, Default)]
struct Groups {
    axes: usize,
    /// Groups.
    n: usize,
    /// Axis-major: group g's least and largest value on axis j at `j * n + g`.
    lo: Vec<f32>,
    hi: Vec<f32>,
}

/// Blocks from which the one-row search bounds groups of blocks first
/// (`Groups`); a reference of up to 1,024 rows bounds every block at once.
const GROUP_MIN_BLOCKS: usize = 64;
/// Leading axes of a group's box.
const GROUP_AXES: usize = 16;

/// Widest frame given an int8 copy: keeps the kernel's i32 sums from
/// wrapping (each value's terms are below 2^17).
const COARSE_MAX_D: usize = 1024;
/// `c` of a padding slot: far above any row's `c - 2 u.v`, so never the least.
const PAD_C: i32 = i32::MAX / 2;

/// How a row maps into the index's frame.
#[derive(Clone, Debug)]
enum Frame {
    /// `y = bias + x R` (`d x m` row-major: the principal axes of the m varying
    /// columns by decreasing variance; zero rows for the columns left out).
    Rotate { r: Aligned, bias: Vec<f32> },
    /// `y_c = x_{perm_c}`: the varying columns by decreasing variance
    /// (none for an empty reference).
    Permute(Vec<u32>),
}

impl Default for Frame {
    fn default() -> Self {
        Frame::Permute(Vec::new())
    }
}

/// Scratch for one query: the k best (squared distance, reference row), the
/// query in the index's frame, and one block's distances.
#[derive(Clone, Debug, Default)]
pub struct KnnScratch {
    best: Vec<(f32, u32)>,
    /// The search's candidates as (distance bits, row) keys: distances are
    /// never negative or NaN here, so the keys order as (distance, row).
    keys: Vec<u64>,
    q: Vec<f32>,
    /// Distances of the block or pair of blocks just scanned.
    out: Vec<f32>,
    /// A tile of queries of `distance_batch`: frame coordinates, `-2 q`,
    /// `|q|^2`, and each block's lower bound (minus `|q|^2`).
    tile_q: Vec<f32>,
    tile_q2: Vec<f32>,
    tile_qn: Vec<f64>,
    mins: Vec<f32>,
    /// The one-row search's int8 query and its blocks' lower bounds
    /// (`Coarse::bounds`), and its groups' (`Groups::bounds`).
    coarse_q: Vec<u8>,
    bounds: Vec<f32>,
    group_bounds: Vec<f32>,
    /// Blocks visited by this scratch's one-row searches (to size up a reference).
    visits: usize,
}

/// Whether a block with lower bound `bound` may hold a row within `cut`
/// (a NaN bound rules nothing out).
#[inline]
fn may_hold(bound: f32, cut: f32) -> bool {
    bound <= cut || bound.is_nan()
}

/// Queries whose block bounds `distance_batch` computes together.
const TILE: usize = 32;
/// The batch search bounds every block when the first-axis walk visits more
/// than this share of the blocks plus this many. Measured: at 64 blocks, rows
/// whose search visits about 22 were 7% slower with the bounds, cover's (about
/// 30) 15% faster, celeba's (about 55) 30% faster.
const BOUNDS_VISITS_SHARE: f64 = 0.25;
const BOUNDS_VISITS_EXTRA: f64 = 8.0;

impl Frame {
    /// `apply` for `r` rows at once (row-major): the same bits per row
    /// (`gemv_rows`), each load of the rotation serving two rows.
    fn apply_tile(&self, xs: &[f32], r: usize, ys: &mut [f32]) {
        match self {
            Frame::Rotate { r: rot, bias } => kernels::selected().gemv_rows(ys, bias, rot, xs, r),
            Frame::Permute(_) => {
                let (d_in, m) = (xs.len() / r.max(1), self.dim());
                for (x, y) in xs
                    .chunks_exact(d_in.max(1))
                    .zip(ys.chunks_exact_mut(m.max(1)))
                {
                    self.apply(x, y);
                }
            }
        }
    }

    fn apply(&self, x: &[f32], y: &mut [f32]) {
        match self {
            Frame::Rotate { r, bias } => kernels::selected().gemv(y, bias, r, x),
            Frame::Permute(perm) => {
                for (o, &p) in y.iter_mut().zip(perm) {
                    *o = x[p as usize];
                }
            }
        }
    }
}

impl Reference {
    pub fn n_rows(&self) -> usize {
        self.rows.len().checked_div(self.d).unwrap_or(0)
    }

    /// An empty reference: the kNN term is then 0.
    pub fn empty(d: usize) -> Self {
        Self::from_parts(d, K, Vec::new(), 1.0)
    }

    /// A reference from its stored parts (as decoded), building the search index.
    pub fn from_parts(d: usize, k: usize, rows: Vec<f32>, norm: f32) -> Self {
        let index = Index::build(d, &rows);
        let mut r = Reference {
            d,
            k,
            rows,
            norm,
            local: Vec::new(),
            index,
        };
        r.lay_out();
        r
    }

    /// Blocks the one-row search visits per query, as it stands, counted
    /// with 64 reference rows as queries (the same on every machine).
    fn mean_visits(&self) -> f64 {
        let n = self.n_rows();
        let mut s = KnnScratch::default();
        let mut queries = 0;
        for i in (0..n).step_by(n.div_ceil(64).max(1)) {
            self.nearest(
                &self.rows[i * self.d..(i + 1) * self.d],
                self.k,
                Some(i),
                &mut s,
            );
            queries += 1;
        }
        s.visits as f64 / queries.max(1) as f64
    }

    /// Lay out the search's blocks. The batch search's pass over every block
    /// costs about a third of a full scan plus a few visits, so it pays where
    /// the first-axis walk visits many blocks (a count, the same on every
    /// machine). The one-row search's int8 pass pays where it saves more
    /// than it costs, which block counts do not tell: a visit that leaves
    /// after 4 columns costs a fraction of one that reads all 39. So both
    /// searches are timed on the same probe rows, alternately, and the int8
    /// one is kept where it is the faster (celeba: 55 visits of the walk
    /// against 7; http's 3 columns: the walk). On the generated 16-column
    /// table the probe put the int8 search 10-14% ahead, near the 10% lead
    /// it used to ask for, so a load picked either; between an executor's
    /// rows the int8 search measured 8-10% faster there. The
    /// choice changes the speed only: both searches return the same
    /// neighbours, bit for bit.
    fn lay_out(&mut self) {
        let (d, nb) = (self.d, self.index.lo.len());
        if self.n_rows() == 0 || self.k == 0 {
            return;
        }
        let walk = self.mean_visits();
        let pay = walk > BOUNDS_VISITS_SHARE * nb as f64 + BOUNDS_VISITS_EXTRA;
        self.index.set_tiles(d, &self.rows, pay);
        if let Some(coarse) = self.index.coarse.take() {
            let (mut t_walk, mut t_int8) = (f64::INFINITY, f64::INFINITY);
            let mut s = KnnScratch::default();
            let mut coarse = Some(coarse);
            for _ in 0..3 {
                t_walk = t_walk.min(self.probe_secs(&mut s));
                std::mem::swap(&mut self.index.coarse, &mut coarse);
                t_int8 = t_int8.min(self.probe_secs(&mut s));
                std::mem::swap(&mut self.index.coarse, &mut coarse);
            }
            if t_int8 < t_walk {
                self.index.coarse = coarse;
            }
        }
        if !pay && self.index.coarse.is_none() {
            self.index.tiles = None;
        }
    }

    /// Seconds for the one-row search of the probe rows of `mean_visits`,
    /// each scored as a row of the table it holds (k + 1 held, no skip).
    fn probe_secs(&self, s: &mut KnnScratch) -> f64 {
        let (n, d) = (self.n_rows(), self.d);
        let start = std::time::Instant::now();
        for i in (0..n).step_by(n.div_ceil(64).max(1)) {
            self.nearest(&self.rows[i * d..(i + 1) * d], self.scored_held(), None, s);
        }
        start.elapsed().as_secs_f64()
    }

    /// Build from scaled rows and fit the normaliser.
    pub fn new(d: usize, rows: Vec<f32>) -> Self {
        Self::with_k(d, rows, K)
    }

    /// Same as `new`, averaging over `k` neighbours.
    pub fn with_k(d: usize, rows: Vec<f32>, k: usize) -> Self {
        Self::fit(d, rows, k, false)
    }

    /// Same as `with_k`, keeping each row's own leave-one-out distance
    /// (`local`): the same searches and the same normaliser, bit for bit.
    pub fn with_local(d: usize, rows: Vec<f32>, k: usize) -> Self {
        Self::fit(d, rows, k, true)
    }

    fn fit(d: usize, rows: Vec<f32>, k: usize, keep_local: bool) -> Self {
        let mut r = Self::from_parts(d, k.max(1), rows, 1.0);
        let n = r.n_rows();
        if n > r.k {
            let mut s = KnnScratch::default();
            let mut x = vec![0.0f32; d];
            let own: Vec<f64> = (0..n)
                .map(|i| {
                    x.copy_from_slice(&r.rows[i * d..(i + 1) * d]);
                    r.nearest(&x, r.k, Some(i), &mut s);
                    mean_dist(&s.best)
                })
                .collect();
            let total: f64 = own.iter().sum();
            r.norm = ((total / n as f64) as f32).max(1e-6);
            if keep_local {
                r.local = own.iter().map(|&v| v as f32).collect();
            }
        }
        r
    }

    /// The factor a scored row's mean distance to its neighbours `best` is
    /// multiplied by, besides the division by `norm`: with `local`,
    /// sqrt(norm / l), l the mean of the neighbours' own leave-one-out
    /// distances held within [norm / LOCAL_BOUND, LOCAL_BOUND norm]; else 1.
    /// So the distance is divided by the geometric mean of the global and
    /// the local scale, a blend of KNN and LOF: a row as far from dense
    /// neighbours as a normal row is from sparse ones stands out (LOF), and
    /// the bound keeps neighbours of (near-)duplicates, whose own distances
    /// are about 0, from magnifying every distance near them (celeba, http).
    /// Measured for clean models in protocol B with the harness (seeds 42
    /// and 7): H1 +0.0087, H2 +0.0031 mean AUROC against `norm` alone.
    fn local_factor(&self, best: &[(f32, u32)]) -> f64 {
        if self.local.is_empty() || best.is_empty() {
            return 1.0;
        }
        let own = best
            .iter()
            .map(|&(_, i)| self.local[i as usize] as f64)
            .sum::<f64>()
            / best.len() as f64;
        let norm = self.norm as f64;
        (norm / own.clamp(norm / LOCAL_BOUND, LOCAL_BOUND * norm)).sqrt()
    }

    /// Fill `s.best` with the `held` nearest reference rows of `x` (ascending
    /// by squared distance, ties to the lower row, as a plain scan would keep
    /// them), skipping row `skip`.
    fn nearest(&self, x: &[f32], held: usize, skip: Option<usize>, s: &mut KnnScratch) {
        let ix = &self.index;
        let nb = ix.lo.len();
        if nb == 0 || held == 0 {
            s.best.clear();
            return;
        }
        s.q.resize(ix.frame.dim(), 0.0);
        s.out.resize(2 * KNN_BLOCK, 0.0);
        ix.frame.apply(x, &mut s.q);
        if let (Some(tiles), Some(coarse), Some(groups)) = (&ix.tiles, &ix.coarse, &ix.groups) {
            self.nearest_grouped(tiles, coarse, groups, held, skip, s);
            self.finish(x, s);
            return;
        }
        if let (Some(tiles), Some(coarse)) = (&ix.tiles, &ix.coarse) {
            coarse.bounds(&s.q, &mut s.coarse_q, &mut s.bounds);
            let nb = tiles.slot_row.len() / KNN_BLOCK;
            let qn: f64 = s.q.iter().map(|&v| v as f64 * v as f64).sum();
            let slack = ix.slack * (qn.sqrt() + ix.r_max).powi(2);
            let mut bounds = std::mem::take(&mut s.bounds);
            let cut = |w: f32| ((w as f64 + slack) as f32).next_up();
            self.visit_bounded(tiles, &mut bounds[..nb], cut, held, skip, s);
            s.bounds = bounds;
            self.finish(x, s);
            return;
        }
        let (mut held, mut visited) = (Held::new(held), 0);
        s.keys.clear();
        let q0 = s.q[0];
        // Blocks right of the query on the first axis from `right` up, left
        // of it from `left` down, nearer gap first; each side's gap on that
        // axis alone grows outward and bounds the distance of its rows.
        let mut right = ix.hi.partition_point(|&h| h < q0);
        let mut left = right;
        // Plain compares, not `f32::max` (whose NaN rule costs extra
        // instructions): the same gap for numbers; a NaN gives 0, which
        // rules nothing out. An infinite gap (a query at infinity on the
        // first axis) is cut to the largest finite one, still a lower bound:
        // infinity marks a side with no blocks left, and the rows beyond
        // such a gap stay in while the k-th best is infinite too, as a full
        // scan keeps them.
        let gap = |b: usize| {
            let (a, c) = (ix.lo[b] - q0, q0 - ix.hi[b]);
            let g = if a > c { a } else { c };
            let g = if g > 0.0 { g } else { 0.0 };
            let g = g * g;
            if g < f32::MAX {
                g
            } else {
                f32::MAX
            }
        };
        loop {
            let gl = if left > 0 {
                gap(left - 1)
            } else {
                f32::INFINITY
            };
            let gr = if right < nb {
                gap(right)
            } else {
                f32::INFINITY
            };
            // Strictly beyond the k-th best: a row at exactly that distance
            // may still win its tie by a lower row number.
            let go_right = gr <= gl;
            let (g, other) = if go_right { (gr, gl) } else { (gl, gr) };
            if g > held.worst || g == f32::INFINITY {
                break;
            }
            // A second block for the same kernel call when it is within the
            // bound too: the other side's next, else this side's following one.
            let first = if go_right { right } else { left - 1 };
            let second = if other <= held.worst && other != f32::INFINITY {
                Some(if go_right { left - 1 } else { right })
            } else if go_right {
                Some(right + 1).filter(|&b| b < nb && gap(b) <= held.worst)
            } else {
                left.checked_sub(2).filter(|&b| gap(b) <= held.worst)
            };
            // Each visited block is the next one on its side.
            for v in std::iter::once(first).chain(second) {
                if v >= right {
                    right += 1;
                } else {
                    left -= 1;
                }
            }
            match second {
                Some(b) => self.visit_pair(first, b, skip, s, &mut held),
                None => self.visit(&ix.walk, first, skip, s, &mut held),
            }
            visited += 1 + second.is_some() as usize;
        }
        s.visits += visited;
        self.finish(x, s);
    }

    /// Keep in `s.keys` the `held` nearest rows of `tiles` to the query in
    /// `s.q` (skipping `skip`), group by group: the group whose box is
    /// nearest first, then the others in index order while their box bound
    /// does not exceed the k-th best so far (with the rounding slack, as the
    /// int8 bounds). In each group it visits, the int8 bounds of its blocks,
    /// then the best-bounded block and the others left in. Every bound is
    /// conservative, so the neighbours are those of a full scan.
    fn nearest_grouped(
        &self,
        tiles: &Blocks,
        coarse: &Coarse,
        groups: &Groups,
        held: usize,
        skip: Option<usize>,
        s: &mut KnnScratch,
    ) {
        let ix = &self.index;
        let nb = tiles.slot_row.len() / KNN_BLOCK;
        let qn: f64 = s.q.iter().map(|&v| v as f64 * v as f64).sum();
        let slack = ix.slack * (qn.sqrt() + ix.r_max).powi(2);
        let cut = |w: f32| ((w as f64 + slack) as f32).next_up();
        let (mut qb, mut gb, mut bb) = (
            std::mem::take(&mut s.coarse_q),
            std::mem::take(&mut s.group_bounds),
            std::mem::take(&mut s.bounds),
        );
        groups.bounds(&s.q, &mut gb);
        bb.resize(INT8_LANES, 0.0);
        let query = coarse.query(&s.q, &mut qb);
        let mut held = Held::new(held);
        s.keys.clear();
        let kern = kernels::selected();
        let g1 = kern.least_at(&gb);
        let mut visited = 0;
        let mut visit_group = |g: usize, s: &mut KnnScratch, held: &mut Held| {
            let base = g * INT8_LANES;
            coarse.group_bounds(query, g, &mut bb);
            let bounds = &bb[..INT8_LANES.min(nb - base)];
            let b1 = kern.least_at(bounds);
            let mut t = cut(held.worst);
            if may_hold(bounds[b1], t) {
                self.visit(tiles, base + b1, skip, s, held);
                t = cut(held.worst);
                visited += 1;
            }
            let mut open = kern.not_above(bounds, t);
            while open != 0 {
                let i = open.trailing_zeros() as usize;
                open &= open - 1;
                if i != b1 && may_hold(bounds[i], t) {
                    self.visit(tiles, base + i, skip, s, held);
                    t = cut(held.worst);
                    visited += 1;
                }
            }
        };
        visit_group(g1, s, &mut held);
        // The second-nearest box next: with the first, its k-th best rules
        // out most of the others.
        let g2 = if gb.len() > 1 {
            let keep = std::mem::replace(&mut gb[g1], f32::INFINITY);
            let g = kern.least_at(&gb);
            gb[g1] = keep;
            Some(g).filter(|&g| g != g1 && may_hold(gb[g], cut(held.worst)))
        } else {
            None
        };
        if let Some(g) = g2 {
            visit_group(g, s, &mut held);
        }
        let mut t = cut(held.worst);
        for (c, chunk) in gb.chunks(64).enumerate() {
            let mut open = kern.not_above(chunk, t);
            while open != 0 {
                let i = open.trailing_zeros() as usize;
                open &= open - 1;
                let g = c * 64 + i;
                if g != g1 && Some(g) != g2 && may_hold(chunk[i], t) {
                    visit_group(g, s, &mut held);
                    t = cut(held.worst);
                }
            }
        }
        s.visits += visited;
        (s.coarse_q, s.group_bounds, s.bounds) = (qb, gb, bb);
    }

    /// As `nearest` for the query already in `s.q`, with its blocks' lower
    /// bounds `mins` (minus `qn = |q|^2`) from `block_mins`.
    fn nearest_bounded(
        &self,
        tiles: &Blocks,
        x: &[f32],
        mins: &mut [f32],
        qn: f64,
        s: &mut KnnScratch,
    ) {
        let slack = self.index.slack * (qn.sqrt() + self.index.r_max).powi(2);
        // The cut-off is rounded up to f32, so it stays conservative.
        let cut = |worst: f32| ((worst as f64 + slack - qn) as f32).next_up();
        self.visit_bounded(tiles, mins, cut, self.scored_held(), None, s);
        self.finish(x, s);
    }

    /// Keep in `s.keys` the `held` nearest rows of `tiles` (skipping `skip`),
    /// visiting only the blocks whose lower bound in `mins` does not exceed
    /// `cut` of the k-th best so far (`cut` maps a squared distance to the
    /// bounds' scale, rounded up).
    fn visit_bounded(
        &self,
        tiles: &Blocks,
        mins: &mut [f32],
        cut: impl Fn(f32) -> f32,
        held: usize,
        skip: Option<usize>,
        s: &mut KnnScratch,
    ) {
        // Blocks may hold a neighbour while their bound does not exceed the
        // k-th best (strictly: a row at exactly that distance may still win
        // its tie by a lower row number); NaN never rules a block out.
        let mut held = Held::new(held);
        s.keys.clear();
        // The two most promising blocks first: their k-th best rules out
        // most of the others. Found by SIMD min passes (the second with the
        // first set aside); which blocks go first changes only the work, not
        // the neighbours.
        let kern = kernels::selected();
        let b1 = kern.least_at(mins);
        let b2 = if mins.len() > 1 {
            let keep = std::mem::replace(&mut mins[b1], f32::INFINITY);
            let b = kern.least_at(mins);
            mins[b1] = keep;
            if b == b1 {
                (b1 + 1) % mins.len()
            } else {
                b
            }
        } else {
            usize::MAX
        };
        self.visit(tiles, b1, skip, s, &mut held);
        if b2 != usize::MAX {
            self.visit(tiles, b2, skip, s, &mut held);
        }
        // The other blocks in index order, each checked against the k-th best
        // at its turn: a branch-free pass marks the blocks the two visits
        // leave in (a few of 64), and only those are looked at again.
        let mut t = cut(held.worst);
        let mut visited = 1 + (b2 != usize::MAX) as usize;
        for (c, chunk) in mins.chunks(64).enumerate() {
            let mut open = kern.not_above(chunk, t);
            while open != 0 {
                let i = open.trailing_zeros() as usize;
                open &= open - 1;
                let b = c * 64 + i;
                if b != b1 && b != b2 && may_hold(chunk[i], t) {
                    self.visit(tiles, b, skip, s, &mut held);
                    t = cut(held.worst);
                    visited += 1;
                }
            }
        }
        s.visits += visited;
    }

    /// `s.best` from the candidates the search kept: ascending, with what
    /// the columns left out of the search add to every distance.
    fn finish(&self, x: &[f32], s: &mut KnnScratch) {
        // `Held::offer` keeps the keys in ascending order.
        debug_assert!(s.keys.is_sorted());
        let offset: f32 = self
            .index
            .consts
            .iter()
            .map(|&(j, v)| (x[j as usize] - v) * (x[j as usize] - v))
            .sum();
        s.best.clear();
        s.best.extend(
            s.keys
                .iter()
                .map(|&c| (f32::from_bits((c >> 32) as u32) + offset, c as u32)),
        );
    }

    /// Scan block `b`, keeping in `s.keys` the k best candidates so far.
    #[inline(always)]
    fn visit(
        &self,
        blk: &Blocks,
        b: usize,
        skip: Option<usize>,
        s: &mut KnnScratch,
        held: &mut Held,
    ) {
        let n = s.q.len() * KNN_BLOCK;
        let block = &blk.vals[b * n..(b + 1) * n];
        let mut mask =
            kernels::selected().block_dists(&mut s.out[..KNN_BLOCK], block, &s.q, held.worst);
        while mask != 0 {
            let l = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let row = blk.slot_row[b * KNN_BLOCK + l];
            if row == u32::MAX || skip == Some(row as usize) {
                continue;
            }
            held.offer(
                &mut s.keys,
                (u64::from(s.out[l].to_bits()) << 32) | u64::from(row),
            );
        }
    }

    /// `visit` of blocks `a` and `b` of the one-row layout in one kernel call.
    #[inline(always)]
    fn visit_pair(
        &self,
        a: usize,
        b: usize,
        skip: Option<usize>,
        s: &mut KnnScratch,
        held: &mut Held,
    ) {
        let ix = &self.index;
        let n = s.q.len() * KNN_BLOCK;
        let mut mask = kernels::selected().block_dists2(
            &mut s.out,
            &ix.walk.vals[a * n..(a + 1) * n],
            &ix.walk.vals[b * n..(b + 1) * n],
            &s.q,
            held.worst,
        );
        while mask != 0 {
            let l = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let slot = if l < KNN_BLOCK {
                a * KNN_BLOCK + l
            } else {
                b * KNN_BLOCK + l - KNN_BLOCK
            };
            let row = ix.walk.slot_row[slot];
            if row == u32::MAX || skip == Some(row as usize) {
                continue;
            }
            held.offer(
                &mut s.keys,
                (u64::from(s.out[l].to_bits()) << 32) | u64::from(row),
            );
        }
    }

    /// Normalised kNN distance of `x`; per-column shares (summing to it) into `cols`.
    pub fn distance(&self, x: &[f32], s: &mut KnnScratch, cols: &mut [f64]) -> f64 {
        if self.n_rows() == 0 {
            cols.iter_mut().for_each(|c| *c = 0.0);
            return 0.0;
        }
        self.nearest(x, self.scored_held(), None, s);
        self.shares(x, s, cols)
    }

    /// `distance` for `n = xs.len() / d` rows at once (row-major), the shares
    /// into `cols` (`n x d`) and the distances into `dists`: bit for bit what
    /// `distance` gives each row, with the blocks bounded a tile at a time.
    pub fn distance_batch(
        &self,
        xs: &[f32],
        s: &mut KnnScratch,
        cols: &mut [f64],
        dists: &mut [f64],
    ) {
        let (d, n) = (self.d, dists.len());
        let ix = &self.index;
        let nb = ix.lo.len();
        if nb == 0 || self.k == 0 {
            cols.iter_mut().for_each(|c| *c = 0.0);
            dists.iter_mut().for_each(|v| *v = 0.0);
            return;
        }
        let Some(tiles) = ix.tiles.as_ref().filter(|_| ix.batch_bounds) else {
            for (i, x) in xs.chunks_exact(d).enumerate().take(n) {
                self.nearest(x, self.scored_held(), None, s);
                dists[i] = self.shares(x, s, &mut cols[i * d..(i + 1) * d]);
            }
            return;
        };
        let m = ix.frame.dim();
        s.q.resize(m, 0.0);
        s.out.resize(2 * KNN_BLOCK, 0.0);
        for t0 in (0..n).step_by(TILE) {
            let r = TILE.min(n - t0);
            s.tile_q.resize(r * m, 0.0);
            s.tile_q2.resize(r * m, 0.0);
            s.tile_qn.resize(r, 0.0);
            s.mins.resize(r * nb, 0.0);
            ix.frame
                .apply_tile(&xs[t0 * d..(t0 + r) * d], r, &mut s.tile_q[..r * m]);
            for i in 0..r {
                let q = &s.tile_q[i * m..(i + 1) * m];
                let mut qn = 0.0f64;
                for (t, &v) in s.tile_q2[i * m..(i + 1) * m].iter_mut().zip(q.iter()) {
                    *t = -2.0 * v;
                    qn += v as f64 * v as f64;
                }
                s.tile_qn[i] = qn;
            }
            kernels::selected().block_mins(&mut s.mins, &tiles.vals, &tiles.norms, &s.tile_q2, r);
            let mut mins = std::mem::take(&mut s.mins);
            for i in 0..r {
                let row = t0 + i;
                let x = &xs[row * d..(row + 1) * d];
                s.q.copy_from_slice(&s.tile_q[i * m..(i + 1) * m]);
                self.nearest_bounded(tiles, x, &mut mins[i * nb..(i + 1) * nb], s.tile_qn[i], s);
                dists[row] = self.shares(x, s, &mut cols[row * d..(row + 1) * d]);
            }
            std::mem::swap(&mut s.mins, &mut mins);
        }
    }

    /// Neighbours a scored row's search holds: one more than k, for
    /// `neighbours` to pass over an exact match.
    fn scored_held(&self) -> usize {
        self.k + 1
    }

    /// The k neighbours of a scored row among the k + 1 nearest in `best`:
    /// one exact match is passed over. The table scored is usually the one
    /// trained on, so many of its rows are reference rows themselves, and a
    /// row must not vouch for itself (the normaliser is leave-one-out too).
    /// Measured in the harness (seeds 42 / 7): protocol A +0.0038 / +0.0039
    /// mean AUROC, protocol B unchanged.
    fn neighbours<'a>(&self, best: &'a [(f32, u32)]) -> &'a [(f32, u32)] {
        match best {
            [(sq, _), rest @ ..] if best.len() > self.k && *sq <= 0.0 => rest,
            _ => &best[..best.len().min(self.k)],
        }
    }

    /// The per-column shares of the k neighbours (`neighbours`) in `s.best`
    /// into `cols`, and the normalised distance.
    fn shares(&self, x: &[f32], s: &KnnScratch, cols: &mut [f64]) -> f64 {
        cols.iter_mut().for_each(|c| *c = 0.0);
        let best = self.neighbours(&s.best);
        let kk = best.len().max(1) as f64;
        let f = self.local_factor(best);
        let scale = f / (kk * self.norm as f64);
        for &(sq, i) in best {
            if sq <= 0.0 {
                continue;
            }
            let w = scale / (sq as f64).sqrt();
            let r = &self.rows[i as usize * self.d..(i as usize + 1) * self.d];
            kernels::selected().sq_diff_add(cols, r, x, w);
        }
        f * mean_dist(best) / self.norm as f64
    }
}

/// The bound of a search: the k-th best candidate held so far.
struct Held {
    k: usize,
    /// The key to beat once k are held (the largest held; `u64::MAX` before).
    key: u64,
    /// Its squared distance (infinite until k are held).
    worst: f32,
}

/// Keys a scored row's search keeps: `K` neighbours and one exact match
/// passed over (`Reference::scored_held`).
const KEPT: usize = K + 1;

/// Insert `key` into the ascending `a`, dropping its largest (see `Held::offer`).
#[inline(always)]
fn insert_sorted<A: AsMut<[u64]> + ?Sized>(a: &mut A, key: u64) {
    let a = a.as_mut();
    for i in (1..a.len()).rev() {
        a[i] = a[i].min(a[i - 1].max(key));
    }
    if let Some(first) = a.first_mut() {
        *first = (*first).min(key);
    }
}

impl Held {
    fn new(k: usize) -> Self {
        Held {
            k,
            key: u64::MAX,
            worst: f32::INFINITY,
        }
    }

    /// Keep `key` among the k smallest in `keys`, which stay in ascending
    /// order. A branch-free insertion: with `a` sorted and its largest
    /// dropped, `a'[0] = min(a[0], key)` and `a'[i] = min(a[i], max(a[i-1],
    /// key))`: finding the new largest by compares mispredicts (it took a
    /// third of the one-row search's samples when profiled).
    #[inline(always)]
    fn offer(&mut self, keys: &mut Vec<u64>, key: u64) {
        if keys.len() < self.k {
            // A sentinel above every key (distances are finite): dropped below.
            keys.push(u64::MAX);
        } else if key >= self.key {
            return;
        }
        match <&mut [u64; KEPT]>::try_from(&mut keys[..]) {
            // The usual size, unrolled: no loop, no bounds checks.
            Ok(fixed) => insert_sorted(fixed, key),
            Err(_) => insert_sorted(&mut keys[..], key),
        }
        if keys.len() == self.k {
            self.key = keys[self.k - 1];
            self.worst = f32::from_bits((self.key >> 32) as u32);
        }
    }
}

impl Index {
    fn build(d_in: usize, rows: &[f32]) -> Self {
        let n = rows.len().checked_div(d_in).unwrap_or(0);
        if n == 0 {
            return Index::default();
        }
        let (frame, consts) = Frame::fit(d_in, rows);
        let d = frame.dim();
        let y = frame.apply_rows(d_in, rows);
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| {
            y[a as usize * d]
                .total_cmp(&y[b as usize * d])
                .then(a.cmp(&b))
        });
        let walk = Blocks::new(&y, d, &order);
        let nb = n.div_ceil(KNN_BLOCK);
        let (mut lo, mut hi) = (vec![f32::INFINITY; nb], vec![f32::NEG_INFINITY; nb]);
        for (slot, &row) in order.iter().enumerate() {
            let b = slot / KNN_BLOCK;
            lo[b] = lo[b].min(y[row as usize * d]);
            hi[b] = hi[b].max(y[row as usize * d]);
        }
        let r_max = y
            .chunks_exact(d)
            .map(|v| v.iter().map(|&t| t as f64 * t as f64).sum::<f64>().sqrt())
            .fold(0.0, f64::max);
        Index {
            frame,
            consts,
            walk,
            tiles: None,
            coarse: None,
            groups: None,
            batch_bounds: false,
            lo,
            hi,
            r_max,
            slack: 4.0 * (d + 4) as f64 * f64::from(f32::EPSILON) / 2.0,
        }
    }

    /// Lay out the kd-tree leaves and their int8 copy (which bounds the
    /// one-row search's blocks), and whether the batch search bounds them.
    /// Where the one-row search bounds groups of blocks first, the batch
    /// searches row by row with it: bounding every block of a large
    /// reference for each row costs as much as a full scan.
    fn set_tiles(&mut self, d_in: usize, rows: &[f32], batch: bool) {
        let tiles = self.kd_blocks(d_in, rows);
        let m = self.frame.dim();
        self.coarse = Coarse::new(&tiles, m);
        self.groups = self.coarse.as_ref().and_then(|_| Groups::new(&tiles, m));
        self.batch_bounds = batch && self.groups.is_none();
        self.tiles = Some(tiles);
    }

    /// The rows (`d_in` columns) in the frame, as kd-tree leaves.
    fn kd_blocks(&self, d_in: usize, rows: &[f32]) -> Blocks {
        let d = self.frame.dim();
        let y = self.frame.apply_rows(d_in, rows);
        let mut order: Vec<u32> = (0..(y.len() / d) as u32).collect();
        let grouped = order.len().div_ceil(KNN_BLOCK) > GROUP_MIN_BLOCKS;
        kd_order(&y, d, d.min(KD_AXES), grouped, &mut order);
        Blocks::new(&y, d, &order)
    }
}

impl Coarse {
    /// The int8 copy of `tiles` (`m` columns in the frame); none for a frame
    /// too wide for the kernel's sums or values that are not all finite.
    fn new(tiles: &Blocks, m: usize) -> Option<Self> {
        if m == 0 || m > COARSE_MAX_D || !tiles.vals.iter().all(|v| v.is_finite()) {
            return None;
        }
        let amax = tiles.vals.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        let step = if amax > 0.0 { amax as f64 / 127.0 } else { 1.0 };
        let nb = tiles.slot_row.len() / KNN_BLOCK;
        let (width, nsb) = (m.next_multiple_of(4), nb.div_ceil(INT8_LANES));
        let groups = width / 4;
        let mut vals = Aligned::zeros(nsb * groups * KNN_BLOCK * GROUP_BYTES / 4);
        let bytes = vals.as_i8_mut();
        let mut c = vec![PAD_C; nsb * KNN_BLOCK * INT8_LANES];
        let mut err = vec![0.0f32; nsb * INT8_LANES];
        for (slot, &row) in tiles.slot_row.iter().enumerate() {
            if row == u32::MAX {
                continue;
            }
            let (b, l) = (slot / KNN_BLOCK, slot % KNN_BLOCK);
            let (sb, lane) = (b / INT8_LANES, b % INT8_LANES);
            let (mut n2, mut sum, mut e2) = (0i64, 0i64, 0.0f64);
            for j in 0..m {
                let v = tiles.vals[(b * m + j) * KNN_BLOCK + l] as f64;
                let t = (v / step).round().clamp(-127.0, 127.0);
                e2 += (v - t * step) * (v - t * step);
                n2 += (t * t) as i64;
                sum += t as i64;
                let at = (((sb * groups + j / 4) * KNN_BLOCK + l) * INT8_LANES + lane) * 4 + j % 4;
                bytes[at] = t as i8;
            }
            c[(sb * KNN_BLOCK + l) * INT8_LANES + lane] = (n2 + 256 * sum) as i32;
            // Rounded up, past the bound's f32 arithmetic (see `bounds`).
            err[b] = err[b].max(((e2.sqrt() * (1.0 + 2e-6)) as f32).next_up());
        }
        Some(Coarse {
            step,
            width,
            vals,
            c,
            err,
        })
    }

    /// Lower bounds of the squared distance from `q` (in the frame) to each
    /// block's rows, into `bounds` (`INT8_LANES` a super-block: the blocks'
    /// first). A query that is not all numbers gets 0 everywhere, which rules
    /// nothing out. The step is rounded down and the rounding distances up
    /// by 2e-6, past the relative error of the kernel's few f32 operations,
    /// so each bound stays below the exact one.
    fn bounds(&self, q: &[f32], qb: &mut Vec<u8>, bounds: &mut Vec<f32>) {
        let query = self.query(q, qb);
        bounds.resize(self.err.len(), 0.0);
        kernels::selected().block_bounds_i8(bounds, self.vals.as_i8(), &self.c, &self.err, query);
    }

    /// `bounds` of group `g`'s `INT8_LANES` blocks (one super-block of the
    /// layout) into `out`, for the query from `query`.
    fn group_bounds(&self, query: Int8Query<'_>, g: usize, out: &mut [f32]) {
        let per = (self.width / 4) * KNN_BLOCK * GROUP_BYTES;
        let lanes = INT8_LANES * KNN_BLOCK;
        kernels::selected().block_bounds_i8(
            &mut out[..INT8_LANES],
            &self.vals.as_i8()[g * per..(g + 1) * per],
            &self.c[g * lanes..(g + 1) * lanes],
            &self.err[g * INT8_LANES..(g + 1) * INT8_LANES],
            query,
        );
    }

    /// The int8 copy of the query `q` (in the frame) into `qb`, with what
    /// the bound kernel needs of it: see `bounds`.
    fn query<'a>(&self, q: &[f32], qb: &'a mut Vec<u8>) -> Int8Query<'a> {
        qb.clear();
        qb.resize(self.width, 128);
        // In f32, four partial sums: the loop vectorises. To the nearest step
        // by truncating a positive number (no libm call); NaN truncates to
        // byte 0, and its error turns NaN.
        let (inv, step) = ((1.0 / self.step) as f32, self.step as f32);
        let (mut qn, mut e2) = (0i32, [0.0f32; 4]);
        for (i, (o, &v)) in qb.iter_mut().zip(q).enumerate() {
            let byte = ((v * inv).clamp(-127.0, 127.0) + 128.5) as i32;
            let t = byte - 128;
            let r = v - t as f32 * step;
            e2[i % 4] += r * r;
            qn += t * t;
            *o = byte as u8;
        }
        let e2 = (e2[0] + e2[1]) as f64 + (e2[2] + e2[3]) as f64;
        Int8Query {
            u: qb,
            qn,
            step: ((self.step * (1.0 - 2e-6)) as f32).next_down(),
            // Past the f32 arithmetic: the sums' relative error (below
            // m 2^-24, m <= 1024), and per column at most 2^-22 of 127 steps
            // in `t step` (the step itself rounded to f32, then the product).
            err: ((e2.sqrt() * (1.0 + 1e-4) + (q.len() as f64).sqrt() * 4e-5 * self.step) as f32)
                .next_up(),
        }
    }
}

impl Groups {
    /// The boxes of `tiles`' groups on the first `GROUP_AXES` of its `m`
    /// axes; none up to `GROUP_MIN_BLOCKS` blocks.
    fn new(tiles: &Blocks, m: usize) -> Option<Self> {
        let nb = tiles.slot_row.len() / KNN_BLOCK;
        if nb <= GROUP_MIN_BLOCKS || m == 0 {
            return None;
        }
        let (axes, n) = (m.min(GROUP_AXES), nb.div_ceil(INT8_LANES));
        let mut lo = vec![f32::INFINITY; axes * n];
        let mut hi = vec![f32::NEG_INFINITY; axes * n];
        for (slot, &row) in tiles.slot_row.iter().enumerate() {
            if row == u32::MAX {
                continue;
            }
            let (b, l) = (slot / KNN_BLOCK, slot % KNN_BLOCK);
            let g = b / INT8_LANES;
            for j in 0..axes {
                let v = tiles.vals[(b * m + j) * KNN_BLOCK + l];
                lo[j * n + g] = lo[j * n + g].min(v);
                hi[j * n + g] = hi[j * n + g].max(v);
            }
        }
        Some(Groups { axes, n, lo, hi })
    }

    /// Lower bounds of the squared distance from `q` (in the frame) to each
    /// group's rows, into `out`. Each gap is rounded as the exact kernel
    /// rounds the difference it bounds (rounding is monotonic); the sum is
    /// shrunk past its own roundings, and the search's slack covers the
    /// kernel's. A NaN gap counts 0 (rules nothing out); an infinite one
    /// rules a group out only against a finite k-th best, which every row
    /// of the group exceeds.
    fn bounds(&self, q: &[f32], out: &mut Vec<f32>) {
        let n = self.n;
        out.clear();
        out.resize(n, 0.0);
        for (j, &qj) in q.iter().enumerate().take(self.axes) {
            let (lo, hi) = (&self.lo[j * n..(j + 1) * n], &self.hi[j * n..(j + 1) * n]);
            for ((o, &a), &b) in out.iter_mut().zip(lo).zip(hi) {
                let (below, above) = (a - qj, qj - b);
                let g = if below > above { below } else { above };
                let g = if g > 0.0 { g } else { 0.0 };
                *o += g * g;
            }
        }
        let shrink = 1.0 - (self.axes + 4) as f32 * f32::EPSILON;
        out.iter_mut().for_each(|o| *o *= shrink);
    }
}

impl Blocks {
    /// Rows of `y` (`d` columns each) in slot order `order`.
    fn new(y: &[f32], d: usize, order: &[u32]) -> Self {
        let nb = order.len().div_ceil(KNN_BLOCK);
        let mut vals = Aligned::zeros(nb * KNN_BLOCK * d);
        let mut slot_row = vec![u32::MAX; nb * KNN_BLOCK];
        let mut norms = vec![f32::INFINITY; nb * KNN_BLOCK];
        for (slot, &row) in order.iter().enumerate() {
            let (b, l) = (slot / KNN_BLOCK, slot % KNN_BLOCK);
            let v = &y[row as usize * d..(row as usize + 1) * d];
            for (j, &vj) in v.iter().enumerate() {
                vals[(b * d + j) * KNN_BLOCK + l] = vj;
            }
            slot_row[slot] = row;
            norms[slot] = v.iter().map(|&t| t as f64 * t as f64).sum::<f64>() as f32;
        }
        Blocks {
            vals,
            slot_row,
            norms,
        }
    }
}

/// Leading axes the kd-tree splits on.
const KD_AXES: usize = 8;

/// Order `idx` (rows of `y`, `d` columns) as the leaves of a kd-tree of
/// `KNN_BLOCK` rows: each node halves its blocks at the median of the widest
/// of the first `p` axes (ties by row number: deterministic). With `grouped`,
/// a node of more than `INT8_LANES` blocks splits at a whole number of
/// groups of them, so that each group of `Groups` is a subtree.
fn kd_order(y: &[f32], d: usize, p: usize, grouped: bool, idx: &mut [u32]) {
    let nb = idx.len().div_ceil(KNN_BLOCK);
    if nb <= 1 || p == 0 {
        return;
    }
    let (mut axis, mut widest) = (0, f32::NEG_INFINITY);
    for j in 0..p {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &r in idx.iter() {
            let v = y[r as usize * d + j];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi - lo > widest {
            (axis, widest) = (j, hi - lo);
        }
    }
    let left = if grouped && nb > INT8_LANES {
        (nb.div_ceil(INT8_LANES) / 2) * INT8_LANES * KNN_BLOCK
    } else {
        (nb / 2) * KNN_BLOCK
    };
    idx.select_nth_unstable_by(left, |&a, &b| {
        y[a as usize * d + axis]
            .total_cmp(&y[b as usize * d + axis])
            .then(a.cmp(&b))
    });
    let (l, r) = idx.split_at_mut(left);
    kd_order(y, d, p, grouped, l);
    kd_order(y, d, p, grouped, r);
}

impl Frame {
    /// The principal axes of the rows' varying columns (up to `ROTATE_MAX_D`
    /// of them), else those columns by decreasing variance; and the columns
    /// every row shares one value in (categories: the kNN coordinate is 0),
    /// which add the same to every distance and are left out of the search.
    fn fit(d: usize, rows: &[f32]) -> (Self, Vec<(u32, f32)>) {
        let n = rows.len() / d;
        let mut keep: Vec<usize> = (0..d)
            .filter(|&j| rows.chunks_exact(d).any(|r| r[j] != rows[j]))
            .collect();
        if keep.is_empty() {
            // Nothing varies: search one column (every row ties).
            keep.push(0);
        }
        let mut kept = vec![false; d];
        keep.iter().for_each(|&j| kept[j] = true);
        let consts = (0..d)
            .filter(|&j| !kept[j])
            .map(|j| (j as u32, rows[j]))
            .collect();
        let m = keep.len();
        let mut mean = vec![0.0f64; m];
        for r in rows.chunks_exact(d) {
            for (mu, &j) in mean.iter_mut().zip(&keep) {
                *mu += r[j] as f64 / n as f64;
            }
        }
        let mut c = vec![0.0f64; m];
        if m > ROTATE_MAX_D {
            // The variances alone (a covariance of m x m would grow with
            // the square of the columns): the same products and sums as the
            // covariance's diagonal.
            let mut var = vec![0.0f64; m];
            for r in rows.chunks_exact(d) {
                for ((v, &j), &mu) in var.iter_mut().zip(&keep).zip(&mean) {
                    let cb = r[j] as f64 - mu;
                    *v += cb * cb;
                }
            }
            let mut perm: Vec<usize> = (0..m).collect();
            perm.sort_by(|&a, &b| var[b].total_cmp(&var[a]).then(a.cmp(&b)));
            return (
                Frame::Permute(perm.iter().map(|&a| keep[a] as u32).collect()),
                consts,
            );
        }
        // The upper triangle, over a row's centred kept columns gathered
        // once: contiguous slices the compiler vectorises, where an
        // indirect index per product did not (celeba's cold model load
        // 4.5-4.8 -> 4.2-4.3 ms). The same products and sums, in the same
        // order, as the indexed loop.
        let mut cov = vec![0.0f64; m * m];
        for r in rows.chunks_exact(d) {
            for (cb, (&j, &mu)) in c.iter_mut().zip(keep.iter().zip(&mean)) {
                *cb = r[j] as f64 - mu;
            }
            for (a, &da) in c.iter().enumerate() {
                for (acc, &cb) in cov[a * m + a..(a + 1) * m].iter_mut().zip(&c[a..]) {
                    *acc += da * cb;
                }
            }
        }
        for a in 0..m {
            for b in 0..a {
                cov[a * m + b] = cov[b * m + a];
            }
        }
        let axes = principal_axes(cov, m);
        // d x m: the rows of the columns left out stay zero.
        let mut r = vec![0.0f32; d * m];
        for (a, &j) in keep.iter().enumerate() {
            for c in 0..m {
                r[j * m + c] = axes[a * m + c] as f32;
            }
        }
        let bias = (0..m)
            .map(|c| -(0..m).map(|a| mean[a] * axes[a * m + c]).sum::<f64>() as f32)
            .collect();
        (Frame::Rotate { r: r.into(), bias }, consts)
    }

    /// Every row of `rows` (`d_in` columns each) in the frame, row-major.
    fn apply_rows(&self, d_in: usize, rows: &[f32]) -> Vec<f32> {
        let d = self.dim();
        let mut y = vec![0.0f32; rows.len() / d_in * d];
        for (src, dst) in rows.chunks_exact(d_in).zip(y.chunks_exact_mut(d)) {
            self.apply(src, dst);
        }
        y
    }

    /// Columns of the frame.
    fn dim(&self) -> usize {
        match self {
            Frame::Rotate { bias, .. } => bias.len(),
            Frame::Permute(p) => p.len(),
        }
    }
}

/// Eigenvectors of the symmetric `d x d` matrix `a` (row-major) by cyclic
/// Jacobi rotations: column c of the result is the axis of the c-th largest
/// eigenvalue. A product of plane rotations, so orthonormal to rounding.
fn principal_axes(mut a: Vec<f64>, d: usize) -> Vec<f64> {
    let mut v = vec![0.0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..60 {
        let off: f64 = (0..d)
            .flat_map(|p| (0..d).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q] * a[p * d + q])
            .sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&x, &y| a[y * d + y].total_cmp(&a[x * d + x]).then(x.cmp(&y)));
    let mut out = vec![0.0f64; d * d];
    for (c, &src) in order.iter().enumerate() {
        for i in 0..d {
            out[i * d + c] = v[i * d + src];
        }
    }
    out
}

fn mean_dist(best: &[(f32, u32)]) -> f64 {
    best.iter()
        .map(|&(sq, _)| (sq.max(0.0) as f64).sqrt())
        .sum::<f64>()
        / best.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Reference {
        // 10x10 unit grid in 2-D.
        let rows: Vec<f32> = (0..100)
            .flat_map(|i| [(i % 10) as f32, (i / 10) as f32])
            .collect();
        Reference::new(2, rows)
    }

    #[test]
    fn the_reference_grows_with_a_clean_sample_only() {
        for clean in [false, true] {
            assert_eq!(reference_rows(10, clean), REFERENCE_ROWS_MIN);
            assert_eq!(reference_rows(1000, clean), REFERENCE_ROWS_MIN);
        }
        assert_eq!(reference_rows(20_000, false), REFERENCE_ROWS_MIN);
        assert_eq!(reference_rows(5_000, true), 5_000);
        assert_eq!(reference_rows(20_000, true), REFERENCE_ROWS_CLEAN);
        // K up to the smallest reference, then the square root's growth.
        assert_eq!(neighbours(0), K);
        assert_eq!(neighbours(REFERENCE_ROWS_MIN), K);
        assert_eq!(neighbours(4 * REFERENCE_ROWS_MIN), 2 * K);
        assert_eq!(neighbours(REFERENCE_ROWS), 4 * K);
    }

    /// Two 10x10 grids, one of spacing 0.1 at the origin, one of spacing 1
    /// far away: equal distances count more near the dense one.
    fn two_densities() -> Vec<f32> {
        (0..200)
            .flat_map(|i| {
                let (x, y) = ((i % 10) as f32, ((i / 10) % 10) as f32);
                if i < 100 {
                    [0.1 * x, 0.1 * y]
                } else {
                    [100.0 + x, 100.0 + y]
                }
            })
            .collect()
    }

    #[test]
    fn the_local_scale_blends_knn_with_lof() {
        let plain = Reference::with_k(2, two_densities(), K);
        let local = Reference::with_local(2, two_densities(), K);
        // The same normaliser, bit for bit; one own distance per row, whose
        // mean it is.
        assert_eq!(plain.norm.to_bits(), local.norm.to_bits());
        assert!(plain.local.is_empty());
        assert_eq!(local.local.len(), 200);
        let mean = local.local.iter().map(|&v| v as f64).sum::<f64>() / 200.0;
        assert!((mean - local.norm as f64).abs() < 1e-4 * mean);
        let mut s = KnnScratch::default();
        let mut cols = [0.0f64; 2];
        let mut ratio = |x: [f32; 2]| {
            let a = plain.distance(&x, &mut s, &mut cols);
            let b = local.distance(&x, &mut s, &mut cols);
            // The shares still sum to the distance (to the search's f32
            // rounding: the shares are summed in the stored frame).
            assert!((cols.iter().sum::<f64>() - b).abs() < 1e-4 * (1.0 + b));
            b / a
        };
        // Near the dense grid (own distances ~0.12, norm ~0.6): up to 2x,
        // near the sparse one (~1.2): down, never below a half.
        let dense = ratio([1.5, 0.45]);
        let sparse = ratio([104.5, 104.5]);
        assert!(dense > 1.5 && dense <= 2.0 + 1e-12, "{dense}");
        assert!((0.5 - 1e-12..0.8).contains(&sparse), "{sparse}");
        // A reference without own distances (formats before 7, default
        // models) scores as before.
        let cleared = Reference {
            local: Vec::new(),
            ..local.clone()
        };
        let x = [1.5f32, 0.45];
        assert_eq!(
            cleared.distance(&x, &mut s, &mut cols).to_bits(),
            plain.distance(&x, &mut s, &mut cols).to_bits()
        );
    }

    #[test]
    fn typical_row_near_one_and_far_row_large() {
        let r = grid();
        let mut s = KnnScratch::default();
        let mut cols = [0.0; 2];
        let inside = r.distance(&[4.5, 4.5], &mut s, &mut cols);
        assert!(inside < 1.2, "{inside}");
        let far = r.distance(&[30.0, 4.0], &mut s, &mut cols);
        assert!(far > 10.0, "{far}");
        // The far row is off in column 0 only: column 0 carries the distance.
        assert!(cols[0] > 20.0 * cols[1], "{cols:?}");
        assert!((cols[0] + cols[1] - far).abs() < 1e-6 * far);
    }

    /// The k nearest by brute force in the original frame (f64), ties to the lower row.
    fn brute(r: &Reference, x: &[f32], skip: Option<usize>) -> Vec<(f64, u32)> {
        let (n, d) = (r.n_rows(), r.d);
        let mut all: Vec<(f64, u32)> = (0..n)
            .filter(|&i| Some(i) != skip)
            .map(|i| {
                let row = &r.rows[i * d..(i + 1) * d];
                let sq = row
                    .iter()
                    .zip(x)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>();
                (sq, i as u32)
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(r.k);
        all
    }

    #[test]
    fn search_finds_exactly_the_brute_force_neighbours() {
        let mut rng = crate::rng::Rng::new(11);
        for (n, d) in [
            (1, 3),
            (5, 2),
            (17, 4),
            (100, 1),
            (300, 7),
            (1024, 16),
            (999, 39),
            (200, 70),
            (5000, 16),
            (2100, 39),
        ] {
            // Clustered rows, with exact duplicates to exercise ties.
            let mut rows = Vec::with_capacity(n * d);
            for i in 0..n {
                if i % 10 == 9 {
                    let src = (i / 2) * d;
                    let dup: Vec<f32> = rows[src..src + d].to_vec();
                    rows.extend(dup);
                    continue;
                }
                let c = (i % 4) as f64 * 3.0;
                rows.extend((0..d).map(|_| (c + rng.normal()) as f32));
            }
            let mut r = Reference::from_parts(d, K, rows, 1.0);
            if n >= KNN_BLOCK {
                // The int8 bounds, wherever the batch layout would pay or not.
                r.index.set_tiles(d, &r.rows, true);
            }
            let mut s = KnnScratch::default();
            for q in 0..40 {
                let x: Vec<f32> = if q % 3 == 0 {
                    r.rows[(q * 7 % n) * d..(q * 7 % n + 1) * d].to_vec()
                } else {
                    (0..d).map(|_| (rng.normal() * 4.0) as f32).collect()
                };
                let skip = (q % 2 == 0).then_some(q * 7 % n);
                r.nearest(&x, r.k, skip, &mut s);
                let want = brute(&r, &x, skip);
                let rows = |v: &[(f32, u32)]| v.iter().map(|e| e.1).collect::<Vec<_>>();
                let want_rows: Vec<u32> = want.iter().map(|e| e.1).collect();
                assert_eq!(rows(&s.best), want_rows, "n={n} d={d} q={q}");
                for (got, w) in s.best.iter().zip(&want) {
                    assert!(
                        (got.0 as f64 - w.0).abs() <= 1e-4 * (1.0 + w.0),
                        "n={n} d={d} q={q}: {got:?} vs {w:?}"
                    );
                }
            }
        }
    }

    /// The k smallest (distance bits, row) keys of a full scan with the
    /// search's own exact kernel: what the pruned search must return, bit for bit.
    pub(super) fn full_scan(r: &Reference, x: &[f32], skip: Option<usize>) -> Vec<u64> {
        let ix = &r.index;
        let mut q = vec![0.0; ix.frame.dim()];
        ix.frame.apply(x, &mut q);
        let mut out = vec![0.0; KNN_BLOCK];
        let n = q.len() * KNN_BLOCK;
        let mut keys: Vec<u64> = Vec::new();
        for (b, block) in ix.walk.vals.chunks_exact(n).enumerate() {
            kernels::selected().block_dists(&mut out, block, &q, f32::INFINITY);
            for (l, &o) in out.iter().enumerate() {
                let row = ix.walk.slot_row[b * KNN_BLOCK + l];
                if row != u32::MAX && skip != Some(row as usize) {
                    keys.push((u64::from(o.to_bits()) << 32) | u64::from(row));
                }
            }
        }
        keys.sort_unstable();
        keys.truncate(r.k);
        keys
    }

    #[test]
    fn a_reference_row_does_not_vouch_for_itself() {
        let r = grid();
        let (mut s, mut cols) = (KnnScratch::default(), [0.0; 2]);
        // Row 44 is (4, 4): scored, it gets its leave-one-out neighbours.
        let got = r.distance(&[4.0, 4.0], &mut s, &mut cols);
        r.nearest(&[4.0, 4.0], r.k, Some(44), &mut s);
        let loo = mean_dist(&s.best) / r.norm as f64;
        assert_eq!(got.to_bits(), loo.to_bits());
        assert!(got > 0.5, "{got}");
        // A row the reference holds twice still has one exact match.
        let mut rows = r.rows.clone();
        rows.extend([4.0, 4.0]);
        let twice = Reference::new(2, rows);
        let got = twice.distance(&[4.0, 4.0], &mut s, &mut cols);
        twice.nearest(&[4.0, 4.0], twice.k, Some(44), &mut s);
        assert_eq!(s.best[0].0, 0.0);
        assert_eq!(
            got.to_bits(),
            (mean_dist(&s.best) / twice.norm as f64).to_bits()
        );
        // A row off the reference keeps its k nearest.
        let off = r.distance(&[4.5, 4.0], &mut s, &mut cols);
        r.nearest(&[4.5, 4.0], r.k, None, &mut s);
        assert_eq!(
            off.to_bits(),
            (mean_dist(&s.best) / r.norm as f64).to_bits()
        );
    }

    #[test]
    fn pruned_search_returns_the_full_scan_bit_for_bit() {
        let mut rng = crate::rng::Rng::new(5);
        // Binary rows (many exact ties, like flag columns), rows far from the
        // origin (the expanded bound's rounding is largest there), and wide rows.
        for (n, d, kind) in [
            (1024, 39, 0),
            (700, 8, 0),
            (1024, 16, 1),
            (333, 5, 1),
            (500, 80, 2),
            (4100, 39, 0),
            (3000, 16, 1),
            (5000, 8, 2),
        ] {
            let rows: Vec<f32> = (0..n * d)
                .map(|i| match kind {
                    0 => (rng.next_f64() < 0.3) as u8 as f32,
                    1 => (1000.0 + (i % d) as f64 * 50.0 + rng.normal() * 0.01) as f32,
                    _ => rng.normal() as f32,
                })
                .collect();
            let r = Reference::from_parts(d, K, rows, 1.0);
            // The one-row search over first-axis gaps and over int8 bounds.
            let mut walk = r.clone();
            (walk.index.tiles, walk.index.coarse) = (None, None);
            let mut coarse = r.clone();
            coarse.index.set_tiles(d, &coarse.rows, true);
            assert!(coarse.index.coarse.is_some());
            assert_eq!(coarse.index.groups.is_some(), n > 64 * KNN_BLOCK);
            let mut s = KnnScratch::default();
            let mut xs = Vec::new();
            for q in 0..70 {
                let x: Vec<f32> = if q % 2 == 0 {
                    r.rows[(q * 13 % n) * d..(q * 13 % n + 1) * d].to_vec()
                } else {
                    let src = &r.rows[(q * 7 % n) * d..(q * 7 % n + 1) * d];
                    src.iter()
                        .map(|&v| v + (rng.normal() * 0.01) as f32)
                        .collect()
                };
                let skip = (q % 3 == 0).then_some(q * 13 % n);
                for (how, r) in [("walk", &walk), ("int8", &coarse)] {
                    r.nearest(&x, r.k, skip, &mut s);
                    assert_eq!(
                        s.keys,
                        full_scan(r, &x, skip),
                        "{how} n={n} d={d} kind={kind} q={q}"
                    );
                }
                xs.extend(x);
            }
            // The batch path, with block bounds (tiles of 32 and a tail) and
            // row by row, against one row at a time.
            for bounds in [true, false] {
                let mut r = r.clone();
                if bounds {
                    r.index.set_tiles(d, &r.rows, true);
                } else {
                    (r.index.tiles, r.index.coarse) = (None, None);
                }
                let (mut cols, mut dists) = (vec![0.0; 70 * d], vec![0.0; 70]);
                r.distance_batch(&xs, &mut s, &mut cols, &mut dists);
                let mut one = vec![0.0; d];
                for (q, x) in xs.chunks_exact(d).enumerate() {
                    let want = r.distance(x, &mut s, &mut one);
                    assert_eq!(
                        dists[q].to_bits(),
                        want.to_bits(),
                        "n={n} d={d} {kind} {q} {bounds}"
                    );
                    assert_eq!(&cols[q * d..(q + 1) * d], &one[..], "n={n} d={d} q={q}");
                }
            }
        }
    }

    #[test]
    fn every_search_agrees_on_queries_that_are_not_numbers() {
        // A query at +-infinity or NaN: every search returns what a full scan
        // keeps (for infinity the k + 1 lowest rows at an infinite distance;
        // for NaN none, as no NaN distance is within a bound), so inline and
        // batch scores agree whatever reaches the search.
        let mut rng = crate::rng::Rng::new(3);
        let d = 16;
        for n in [1024, 3000] {
            let rows: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
            let r = Reference::from_parts(d, K, rows, 1.0);
            let mut walk = r.clone();
            (walk.index.tiles, walk.index.coarse) = (None, None);
            let mut int8 = r.clone();
            int8.index.set_tiles(d, &int8.rows, true);
            let mut s = KnnScratch::default();
            for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
                for col in [0usize, 5] {
                    let mut x: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
                    x[col] = bad;
                    let want: Vec<u64> = full_scan(&r, &x, None)
                        .into_iter()
                        .filter(|&k| !f32::from_bits((k >> 32) as u32).is_nan())
                        .collect();
                    for (how, r) in [("walk", &walk), ("int8", &int8)] {
                        r.nearest(&x, r.k, None, &mut s);
                        assert_eq!(s.keys, want, "{how} {bad} col {col}");
                    }
                    let mut one = vec![0.0; d];
                    let single = walk.distance(&x, &mut s, &mut one);
                    let (mut cols, mut dists) = (vec![0.0; d], vec![0.0; 1]);
                    int8.distance_batch(&x, &mut s, &mut cols, &mut dists);
                    assert_eq!(single.to_bits(), dists[0].to_bits(), "{bad} col {col}");
                }
            }
        }
    }

    #[test]
    fn int8_bounds_leave_few_blocks_to_visit() {
        // Binary flags (as celeba): the first-axis gaps rule out few blocks,
        // the int8 bounds most; both find the same neighbours.
        let mut rng = crate::rng::Rng::new(8);
        let (n, d) = (1024, 39);
        let rows: Vec<f32> = (0..n * d)
            .map(|_| (rng.next_f64() < 0.3) as u8 as f32)
            .collect();
        let mut r = Reference::from_parts(d, K, rows, 1.0);
        // Whatever the load-time timing chose.
        r.index.set_tiles(d, &r.rows, true);
        assert!(r.index.coarse.is_some());
        let mut walk = r.clone();
        (walk.index.tiles, walk.index.coarse) = (None, None);
        let (mut a, mut b) = (KnnScratch::default(), KnnScratch::default());
        for i in (0..n).step_by(16) {
            let x = r.rows[i * d..(i + 1) * d].to_vec();
            r.nearest(&x, r.k, None, &mut a);
            walk.nearest(&x, r.k, None, &mut b);
            assert_eq!(a.keys, b.keys, "row {i}");
        }
        let (int8, gaps) = (a.visits as f64 / 64.0, b.visits as f64 / 64.0);
        assert!(int8 < 0.5 * gaps, "int8 {int8} vs gaps {gaps} blocks a row");
    }

    #[test]
    fn batch_bounds_blocks_only_where_the_row_search_visits_many() {
        let mut rng = crate::rng::Rng::new(3);
        // One spread-out axis: the row search visits a few blocks.
        let line: Vec<f32> = (0..1024)
            .flat_map(|i| [i as f32, (rng.normal() * 0.01) as f32])
            .collect();
        assert!(!Reference::new(2, line).index.batch_bounds);
        // Independent noise in 30 columns: it visits most of them.
        let noise: Vec<f32> = (0..1024 * 30).map(|_| rng.normal() as f32).collect();
        assert!(Reference::new(30, noise).index.batch_bounds);
    }

    #[test]
    fn empty_reference_scores_zero() {
        let r = Reference::empty(3);
        let mut cols = [1.0; 3];
        assert_eq!(
            r.distance(&[1.0, 2.0, 3.0], &mut KnnScratch::default(), &mut cols),
            0.0
        );
        assert_eq!(cols, [0.0; 3]);
    }

    #[test]
    fn frame_keeps_distances_and_leads_with_the_widest_axis() {
        let mut rng = crate::rng::Rng::new(5);
        let d = 6;
        // Spread mostly along (1, 1, 0, ...): the first axis must find it.
        let rows: Vec<f32> = (0..500)
            .flat_map(|_| {
                let t = rng.normal() * 10.0;
                let mut v: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
                v[0] += t as f32;
                v[1] += t as f32;
                v
            })
            .collect();
        let (frame, consts) = Frame::fit(d, &rows);
        assert!(consts.is_empty());
        let (mut ya, mut yb) = (vec![0.0; d], vec![0.0; d]);
        for i in 0..50 {
            let (a, b) = (&rows[i * d..(i + 1) * d], &rows[(i + 1) * d..(i + 2) * d]);
            frame.apply(a, &mut ya);
            frame.apply(b, &mut yb);
            let sq = |u: &[f32], v: &[f32]| -> f64 {
                u.iter()
                    .zip(v)
                    .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                    .sum()
            };
            let (orig, rot) = (sq(a, b), sq(&ya, &yb));
            assert!((orig - rot).abs() <= 1e-4 * (1.0 + orig), "{orig} vs {rot}");
        }
        let Frame::Rotate { r, .. } = &frame else {
            panic!("narrow rows are rotated")
        };
        let axis0: Vec<f32> = (0..d).map(|i| r[i * d]).collect();
        assert!(
            (axis0[0].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.02,
            "{axis0:?}"
        );
        assert!((axis0[0] - axis0[1]).abs() < 0.02, "{axis0:?}");
    }

    #[test]
    fn principal_axes_diagonalise_a_symmetric_matrix() {
        let d = 5;
        let mut a = vec![0.0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] =
                    1.0 / (1.0 + i as f64 + j as f64) + if i == j { i as f64 } else { 0.0 };
            }
        }
        let v = principal_axes(a.clone(), d);
        // V^T A V is diagonal, decreasing; V^T V = I.
        let mut prev = f64::INFINITY;
        for c in 0..d {
            for e in 0..d {
                let vav: f64 = (0..d)
                    .flat_map(|i| (0..d).map(move |j| (i, j)))
                    .map(|(i, j)| v[i * d + c] * a[i * d + j] * v[j * d + e])
                    .sum();
                let vv: f64 = (0..d).map(|i| v[i * d + c] * v[i * d + e]).sum();
                if c == e {
                    assert!(vav <= prev + 1e-12, "eigenvalues not decreasing");
                    prev = vav;
                    assert!((vv - 1.0).abs() < 1e-12);
                } else {
                    assert!(vav.abs() < 1e-9 && vv.abs() < 1e-12, "{c},{e}: {vav} {vv}");
                }
            }
        }
    }

    #[test]
    fn columns_without_spread_are_left_out_and_still_counted() {
        let mut rng = crate::rng::Rng::new(3);
        let d = 6;
        // Columns 1 and 4 hold one value in every row (a category column's
        // coordinate is 0; a constant number); the query differs there.
        let rows: Vec<f32> = (0..300)
            .flat_map(|i| {
                let mut v: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
                v[1] = 0.0;
                v[4] = 2.5;
                if i % 7 == 0 {
                    v[0] = 0.25; // a duplicate-heavy column, still varying
                }
                v
            })
            .collect();
        for k in [1, K] {
            let r = Reference::from_parts(d, k, rows.clone(), 1.0);
            assert_eq!(r.index.consts, vec![(1, 0.0), (4, 2.5)]);
            let mut s = KnnScratch::default();
            for q in 0..30 {
                let mut x: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
                x[1] = if q % 2 == 0 { 0.0 } else { 1.5 };
                let skip = (q % 3 == 0).then_some(q);
                r.nearest(&x, r.k, skip, &mut s);
                let want = brute(&r, &x, skip);
                let got: Vec<u32> = s.best.iter().map(|e| e.1).collect();
                let want_rows: Vec<u32> = want.iter().map(|e| e.1).collect();
                assert_eq!(got, want_rows, "k={k} q={q}");
                for (g, w) in s.best.iter().zip(&want) {
                    assert!(
                        (g.0 as f64 - w.0).abs() <= 1e-4 * (1.0 + w.0),
                        "{g:?} vs {w:?}"
                    );
                }
            }
        }
        // Nothing varies: every row ties, the lowest rows win.
        let flat = Reference::from_parts(2, 3, vec![1.0; 20], 1.0);
        let mut s = KnnScratch::default();
        flat.nearest(&[1.0, 3.0], flat.k, Some(1), &mut s);
        assert_eq!(s.best, vec![(4.0, 0), (4.0, 2), (4.0, 3)]);
    }
}

#[cfg(test)]
#[path = "knn_props.rs"]
mod props;
