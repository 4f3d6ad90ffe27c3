//! The search index: the rows in the frame, cut into blocks for the SIMD
//! kernels, ordered as the leaves of a kd-tree, with int8 copies and group
//! boxes that bound whole blocks and groups of blocks.

use super::frame::Frame;
use crate::aligned::Aligned;
use crate::kernels::{self, Int8Query, GROUP_BYTES, INT8_LANES, KNN_BLOCK};

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
///   reference serves all of them; where the CPU has 4-byte integer dot
///   products (VNNI), the same pass over int8 copies (`BatchI8`), whose
///   bounds are the one-row search's int8 bounds.
#[derive(Clone, Debug, Default)]
pub(super) struct Index {
    pub(super) frame: Frame,
    /// Columns left out of the search, with the value every row has there.
    pub(super) consts: Vec<(u32, f32)>,
    /// The one-row search's blocks without an int8 copy, sorted along the
    /// first axis (and the yardstick of `lay_out`).
    pub(super) walk: Blocks,
    /// The blocks as kd-tree leaves: searched by the batch where bounding
    /// every block pays (`batch_bounds`, see `lay_out`; else it searches
    /// row by row), and by the one-row search through `coarse`.
    pub(super) tiles: Option<Blocks>,
    /// An int8 copy of `tiles` that bounds every block for the one-row
    /// search (up to `COARSE_MAX_D` columns; else the first-axis walk).
    pub(super) coarse: Option<Coarse>,
    /// Over `GROUP_MIN_BLOCKS` blocks: the boxes of `tiles`' groups of
    /// `INT8_LANES` blocks, which spare the one-row search the int8 bounds of
    /// the groups they rule out.
    pub(super) groups: Option<Groups>,
    pub(super) batch_bounds: bool,
    /// Where the batch search bounds every block and the CPU has 4-byte
    /// integer dot products (`Kernels::int8_tiles`): an int8 copy of
    /// `tiles` laid out for a tile of queries, which bounds with a quarter
    /// of the instructions of the f32 pass.
    pub(super) batch_i8: Option<BatchI8>,
    /// Per block of `walk`, the range of its rows on the first axis.
    pub(super) lo: Vec<f32>,
    pub(super) hi: Vec<f32>,
    /// The largest row norm, and the relative rounding slack of the bound:
    /// a row's expanded and direct squared distances each lie within
    /// `(m + 4) 2^-24 (|x| + |r|)^2` of the true one (m multiply-adds and a
    /// few roundings); the slack doubles that for both and again for margin.
    pub(super) r_max: f64,
    pub(super) slack: f64,
}

/// Reference rows in blocks of `KNN_BLOCK` for the SIMD kernels.
#[derive(Clone, Debug, Default)]
pub(super) struct Blocks {
    /// Per block, dimension-major: value j of slot l at `j * KNN_BLOCK + l`
    /// (0 in the padding of the last block).
    pub(super) vals: Aligned,
    /// Reference row of each slot (`u32::MAX` for the padding of the last block).
    pub(super) slot_row: Vec<u32>,
    /// Squared norm of each slot's row in the frame (infinite for padding:
    /// its bound is infinite, and the search skips its slot).
    pub(super) norms: Vec<f32>,
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
pub(super) struct Coarse {
    pub(super) step: f64,
    /// Query bytes: the frame's columns rounded up to groups of 4.
    pub(super) width: usize,
    /// The values as i8 in `Kernels::block_bounds_i8`'s layout (16 blocks
    /// side by side).
    pub(super) vals: Aligned,
    /// Per super-block, slot and block, `|v|^2 + 256 sum v` in steps
    /// (`PAD_C` for padding).
    pub(super) c: Vec<i32>,
    /// Per block, the largest distance of a row from its int8 copy (rounded up).
    pub(super) err: Vec<f32>,
}

/// The int8 copy of `tiles` for the batch search: `coarse`'s quantisation
/// (its step, width and per-block errors, without its bytes), the bytes laid
/// out block by block with a block's 16 slots side by side (see
/// `Kernels::block_mins_i8`), and `|v|^2 + 256 sum v` per slot.
#[derive(Clone, Debug, Default)]
pub(super) struct BatchI8 {
    pub(super) coarse: Coarse,
    pub(super) vals: Aligned,
    pub(super) c: Vec<i32>,
}

impl BatchI8 {
    /// `coarse`'s bytes and sums for `nb` blocks, re-laid for the tile kernel.
    pub(super) fn new(coarse: &Coarse, nb: usize) -> Self {
        let groups = coarse.width / 4;
        let src = coarse.vals.as_i8();
        let mut vals = Aligned::zeros(nb * groups * kernels::TILE_GROUP_BYTES / 4);
        let dst = vals.as_i8_mut();
        let mut c = vec![PAD_C; nb * KNN_BLOCK];
        for b in 0..nb {
            let (sb, lane) = (b / INT8_LANES, b % INT8_LANES);
            for l in 0..KNN_BLOCK {
                c[b * KNN_BLOCK + l] = coarse.c[(sb * KNN_BLOCK + l) * INT8_LANES + lane];
                for g in 0..groups {
                    let from = (((sb * groups + g) * KNN_BLOCK + l) * INT8_LANES + lane) * 4;
                    let to = ((b * groups + g) * KNN_BLOCK + l) * 4;
                    dst[to..to + 4].copy_from_slice(&src[from..from + 4]);
                }
            }
        }
        BatchI8 {
            // The quantisation and each block's rounding distance; the bytes
            // are laid out again above.
            coarse: Coarse {
                vals: Aligned::default(),
                c: Vec::new(),
                err: coarse.err.clone(),
                ..*coarse
            },
            vals,
            c,
        }
    }
}

/// Per group of `INT8_LANES` consecutive blocks of `tiles` (a subtree of the
/// kd-tree: `kd_order` splits at whole groups), the box of its rows on the
/// frame's first `axes` axes. The squared gaps from a query to the box on
/// those axes sum to a lower bound of its squared distance to every row of
/// the group, so the one-row search computes the int8 bounds of a group's
/// blocks only where the box does not rule the group out: its cost grows
/// with the groups near the query, not with the reference.
#[derive(Clone, Debug, Default)]
pub(super) struct Groups {
    pub(super) axes: usize,
    /// Groups.
    pub(super) n: usize,
    /// Axis-major: group g's least and largest value on axis j at `j * n + g`.
    pub(super) lo: Vec<f32>,
    pub(super) hi: Vec<f32>,
}

/// Blocks from which the one-row search bounds groups of blocks first
/// (`Groups`); a reference of up to 1,024 rows bounds every block at once.
pub(super) const GROUP_MIN_BLOCKS: usize = 64;
/// Leading axes of a group's box.
pub(super) const GROUP_AXES: usize = 16;

/// Widest frame given an int8 copy: keeps the kernel's i32 sums from
/// wrapping (each value's terms are below 2^17).
pub(super) const COARSE_MAX_D: usize = 1024;
/// `c` of a padding slot: far above any row's `c - 2 u.v`, so never the least.
pub(super) const PAD_C: i32 = i32::MAX / 2;

impl Index {
    /// The cut-off a block's lower bound is held to when the k-th best
    /// squared distance is `w`, for a query of squared norm `qn` and bounds
    /// that leave `below` out of the squared distance: `w` plus the rounding
    /// slack less `below`, rounded up to f32, so it stays conservative.
    pub(super) fn cut(&self, qn: f64, below: f64) -> impl Fn(f32) -> f32 {
        let slack = self.slack * (qn.sqrt() + self.r_max).powi(2);
        move |w: f32| ((w as f64 + slack - below) as f32).next_up()
    }

    pub(super) fn build(d_in: usize, rows: &[f32]) -> Self {
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
            batch_i8: None,
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
    pub(super) fn set_tiles(&mut self, d_in: usize, rows: &[f32], batch: bool) {
        let tiles = self.kd_blocks(d_in, rows);
        let m = self.frame.dim();
        self.coarse = Coarse::new(&tiles, m);
        self.groups = self.coarse.as_ref().and_then(|_| Groups::new(&tiles, m));
        self.batch_bounds = batch && self.groups.is_none();
        let nb = tiles.slot_row.len() / KNN_BLOCK;
        self.batch_i8 = self
            .coarse
            .as_ref()
            .filter(|_| self.batch_bounds && kernels::selected().int8_tiles)
            .map(|c| BatchI8::new(c, nb));
        self.tiles = Some(tiles);
    }

    /// The rows (`d_in` columns) in the frame, as kd-tree leaves.
    pub(super) fn kd_blocks(&self, d_in: usize, rows: &[f32]) -> Blocks {
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
    pub(super) fn new(tiles: &Blocks, m: usize) -> Option<Self> {
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
    pub(super) fn bounds(&self, q: &[f32], qb: &mut Vec<u8>, bounds: &mut Vec<f32>) {
        let query = self.query(q, qb);
        bounds.resize(self.err.len(), 0.0);
        kernels::selected().block_bounds_i8(bounds, self.vals.as_i8(), &self.c, &self.err, query);
    }

    /// `bounds` of group `g`'s `INT8_LANES` blocks (one super-block of the
    /// layout) into `out`, for the query from `query`.
    pub(super) fn group_bounds(&self, query: Int8Query<'_>, g: usize, out: &mut [f32]) {
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
    pub(super) fn query<'a>(&self, q: &[f32], qb: &'a mut Vec<u8>) -> Int8Query<'a> {
        qb.clear();
        qb.resize(self.width, 128);
        let (qn, step, err) = self.quantise(q, qb);
        Int8Query {
            u: qb,
            qn,
            step,
            err,
        }
    }

    /// The int8 copy of `q` into `qb` (`width` bytes, 128 past the frame's
    /// columns), and the query's `qn`, `step` and `err` (`Int8Query`).
    pub(super) fn quantise(&self, q: &[f32], qb: &mut [u8]) -> (i32, f32, f32) {
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
        (
            qn,
            ((self.step * (1.0 - 2e-6)) as f32).next_down(),
            // Past the f32 arithmetic: the sums' relative error (below
            // m 2^-24, m <= 1024), and per column at most 2^-22 of 127 steps
            // in `t step` (the step itself rounded to f32, then the product).
            ((e2.sqrt() * (1.0 + 1e-4) + (q.len() as f64).sqrt() * 4e-5 * self.step) as f32)
                .next_up(),
        )
    }
}

impl Groups {
    /// The boxes of `tiles`' groups on the first `GROUP_AXES` of its `m`
    /// axes; none up to `GROUP_MIN_BLOCKS` blocks.
    pub(super) fn new(tiles: &Blocks, m: usize) -> Option<Self> {
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
    pub(super) fn bounds(&self, q: &[f32], out: &mut Vec<f32>) {
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
    pub(super) fn new(y: &[f32], d: usize, order: &[u32]) -> Self {
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
pub(super) const KD_AXES: usize = 8;

/// Order `idx` (rows of `y`, `d` columns) as the leaves of a kd-tree of
/// `KNN_BLOCK` rows: each node halves its blocks at the median of the widest
/// of the first `p` axes (ties by row number: deterministic). With `grouped`,
/// a node of more than `INT8_LANES` blocks splits at a whole number of
/// groups of them, so that each group of `Groups` is a subtree.
pub(super) fn kd_order(y: &[f32], d: usize, p: usize, grouped: bool, idx: &mut [u32]) {
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
