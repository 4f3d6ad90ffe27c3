//! Many rows' k nearest at once: each kd-tree leaf's bound for a tile of
//! queries, so that each load of the reference serves all of them.

use super::index::{BatchI8, Blocks};
use super::*;
use crate::kernels::{Int8Query, KNN_BLOCK};

impl Reference {
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
        if let Some(bi) = &ix.batch_i8 {
            return self.distance_batch_i8(tiles, bi, xs, s, cols, dists);
        }
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
                let qn = s.tile_qn[i];
                self.nearest_bounded(tiles, x, &mut mins[i * nb..(i + 1) * nb], (qn, qn), s);
                dists[row] = self.shares(x, s, &mut cols[row * d..(row + 1) * d]);
            }
            std::mem::swap(&mut s.mins, &mut mins);
        }
    }

    /// `distance_batch` with the blocks bounded from int8 copies of the
    /// rows and of a tile of queries (`Kernels::block_mins_i8`), each bound
    /// the one-row search's int8 bound (`Coarse::bounds`) bit for bit; then,
    /// per row, the blocks it leaves in, as the one-row search visits them.
    fn distance_batch_i8(
        &self,
        tiles: &Blocks,
        bi: &BatchI8,
        xs: &[f32],
        s: &mut KnnScratch,
        cols: &mut [f64],
        dists: &mut [f64],
    ) {
        let (d, n, m) = (self.d, dists.len(), self.index.frame.dim());
        let (nb, width) = (bi.c.len() / KNN_BLOCK, bi.coarse.width);
        let kern = kernels::selected();
        for t0 in (0..n).step_by(TILE) {
            let r = TILE.min(n - t0);
            s.tile_q.resize(r * m, 0.0);
            self.index
                .frame
                .apply_tile(&xs[t0 * d..(t0 + r) * d], r, &mut s.tile_q[..r * m]);
            s.tile_u.clear();
            s.tile_u.resize(r * width, 128);
            s.tile_scale.clear();
            for (q, u) in s.tile_q[..r * m]
                .chunks_exact(m.max(1))
                .zip(s.tile_u.chunks_exact_mut(width.max(1)))
            {
                s.tile_scale.push(bi.coarse.quantise(q, u));
            }
            s.tile_imins.resize(r * nb, 0);
            kern.block_mins_i8(&mut s.tile_imins, bi.vals.as_i8(), &bi.c, &s.tile_u, r);
            let mut bounds = std::mem::take(&mut s.bounds);
            bounds.resize(nb, 0.0);
            for i in 0..r {
                let (qn, step, err) = s.tile_scale[i];
                let query = Int8Query {
                    u: &s.tile_u[i * width..(i + 1) * width],
                    qn,
                    step,
                    err,
                };
                for ((o, &least), &e) in bounds
                    .iter_mut()
                    .zip(&s.tile_imins[i * nb..(i + 1) * nb])
                    .zip(&bi.coarse.err)
                {
                    *o = kernels::bound_of(least, e, query);
                }
                let row = t0 + i;
                let x = &xs[row * d..(row + 1) * d];
                s.q.copy_from_slice(&s.tile_q[i * m..(i + 1) * m]);
                let qn: f64 = s.q.iter().map(|&v| v as f64 * v as f64).sum();
                self.nearest_bounded(tiles, x, &mut bounds, (qn, 0.0), s);
                dists[row] = self.shares(x, s, &mut cols[row * d..(row + 1) * d]);
            }
            s.bounds = bounds;
        }
    }
}
