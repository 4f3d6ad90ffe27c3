//! One row's k nearest reference rows: int8 bounds per kd-tree leaf, or a
//! walk along the first axis, then exact distances in the blocks left in.

use super::index::{Blocks, Coarse, Groups};
use super::*;
use crate::kernels::{INT8_LANES, KNN_BLOCK};

impl Reference {
    /// Fill `s.best` with the `held` nearest reference rows of `x` (ascending
    /// by squared distance, ties to the lower row, as a plain scan would keep
    /// them), skipping row `skip`.
    pub(super) fn nearest(&self, x: &[f32], held: usize, skip: Option<usize>, s: &mut KnnScratch) {
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
            let mut bounds = std::mem::take(&mut s.bounds);
            self.visit_bounded(tiles, &mut bounds[..nb], ix.cut(qn, 0.0), held, skip, s);
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
    pub(super) fn nearest_grouped(
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
        let cut = ix.cut(qn, 0.0);
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

    /// As `nearest` for the query already in `s.q` (squared norm `qn`),
    /// with its blocks' lower bounds `mins`, which leave `below` out of the
    /// squared distance (`|q|^2` for `block_mins`, 0 for the int8 bounds).
    pub(super) fn nearest_bounded(
        &self,
        tiles: &Blocks,
        x: &[f32],
        mins: &mut [f32],
        (qn, below): (f64, f64),
        s: &mut KnnScratch,
    ) {
        let cut = self.index.cut(qn, below);
        self.visit_bounded(tiles, mins, cut, self.scored_held(), None, s);
        self.finish(x, s);
    }

    /// Keep in `s.keys` the `held` nearest rows of `tiles` (skipping `skip`),
    /// visiting only the blocks whose lower bound in `mins` does not exceed
    /// `cut` of the k-th best so far (`cut` maps a squared distance to the
    /// bounds' scale, rounded up).
    pub(super) fn visit_bounded(
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
    pub(super) fn finish(&self, x: &[f32], s: &mut KnnScratch) {
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
    pub(super) fn visit(
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
    pub(super) fn visit_pair(
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
}

/// The bound of a search: the k-th best candidate held so far.
pub(super) struct Held {
    pub(super) k: usize,
    /// The key to beat once k are held (the largest held; `u64::MAX` before).
    pub(super) key: u64,
    /// Its squared distance (infinite until k are held).
    pub(super) worst: f32,
}

/// Keys a scored row's search keeps: `K` neighbours and one exact match
/// passed over (`Reference::scored_held`).
pub(super) const KEPT: usize = K + 1;

/// Insert `key` into the ascending `a`, dropping its largest (see `Held::offer`).
#[inline(always)]
pub(super) fn insert_sorted<A: AsMut<[u64]> + ?Sized>(a: &mut A, key: u64) {
    let a = a.as_mut();
    for i in (1..a.len()).rev() {
        a[i] = a[i].min(a[i - 1].max(key));
    }
    if let Some(first) = a.first_mut() {
        *first = (*first).min(key);
    }
}

impl Held {
    pub(super) fn new(k: usize) -> Self {
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
    pub(super) fn offer(&mut self, keys: &mut Vec<u64>, key: u64) {
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
