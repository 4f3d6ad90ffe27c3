//! Distance to a stored reference sample of training rows, in the encoders'
//! robust-scaled space: the mean Euclidean distance to the k nearest reference
//! rows, divided by the reference rows' own mean (leave-one-out) distance. It
//! decomposes per column as sum_j (x_j - r_j)^2 / |x - r|, so explanations see it.
//!
//! The reference is the training sample minus its highest-scoring share, so
//! clustered anomalies inside a contaminated table cannot vouch for each other.

use crate::kernels::{self, SQ_DIST_BLOCK};

/// Reference rows kept in the model (at most).
pub const REFERENCE_ROWS: usize = 1024;
/// Neighbours averaged.
pub const K: usize = 5;

#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Columns per row.
    pub d: usize,
    pub k: usize,
    /// Row-major `n x d` scaled values.
    pub rows: Vec<f32>,
    /// Mean leave-one-out kNN distance of the reference rows (>0).
    pub norm: f32,
    /// Derived from `rows`: column-major, each column padded to a multiple of
    /// `SQ_DIST_BLOCK` rows, so the scan runs as one SIMD kernel.
    cols: Vec<f32>,
    n_pad: usize,
}

/// Scratch for one query: the k best (squared distance, reference row), and
/// the squared distances to every reference row (sized on first use).
#[derive(Clone, Debug, Default)]
pub struct KnnScratch {
    best: Vec<(f32, u32)>,
    dist: Vec<f32>,
}

impl Reference {
    pub fn n_rows(&self) -> usize {
        self.rows.len().checked_div(self.d).unwrap_or(0)
    }

    /// An empty reference: the kNN term is then 0.
    pub fn empty(d: usize) -> Self {
        Self::from_parts(d, K, Vec::new(), 1.0)
    }

    /// A reference from its stored parts (as decoded), building the scan layout.
    pub fn from_parts(d: usize, k: usize, rows: Vec<f32>, norm: f32) -> Self {
        let n = rows.len().checked_div(d).unwrap_or(0);
        let n_pad = n.div_ceil(SQ_DIST_BLOCK) * SQ_DIST_BLOCK;
        let mut cols = vec![0.0f32; n_pad * d];
        if d > 0 {
            for (i, r) in rows.chunks_exact(d).enumerate() {
                for (j, &v) in r.iter().enumerate() {
                    cols[j * n_pad + i] = v;
                }
            }
        }
        Reference {
            d,
            k,
            rows,
            norm,
            cols,
            n_pad,
        }
    }

    /// Build from scaled rows and fit the normaliser.
    pub fn new(d: usize, rows: Vec<f32>) -> Self {
        Self::with_k(d, rows, K)
    }

    /// Same as `new`, averaging over `k` neighbours.
    pub fn with_k(d: usize, rows: Vec<f32>, k: usize) -> Self {
        let mut r = Self::from_parts(d, k.max(1), rows, 1.0);
        let n = r.n_rows();
        if n > r.k {
            let mut s = KnnScratch::default();
            let mut x = vec![0.0f32; d];
            let total: f64 = (0..n)
                .map(|i| {
                    x.copy_from_slice(&r.rows[i * d..(i + 1) * d]);
                    r.nearest(&x, Some(i), &mut s);
                    mean_dist(&s.best)
                })
                .sum();
            r.norm = ((total / n as f64) as f32).max(1e-6);
        }
        r
    }

    /// Fill `s.best` with the k nearest reference rows of `x`, skipping row `skip`.
    fn nearest(&self, x: &[f32], skip: Option<usize>, s: &mut KnnScratch) {
        s.best.clear();
        let n = self.n_rows();
        if s.dist.len() != self.n_pad {
            s.dist.resize(self.n_pad, 0.0);
        }
        let kern = kernels::selected();
        kern.sq_dists(&mut s.dist, &self.cols, x);
        // The skipped row never qualifies (padding rows lie past the scan).
        if let Some(i) = skip.filter(|&i| i < n) {
            s.dist[i] = f32::INFINITY;
        }
        let k = self.k.min(n);
        if k == 0 {
            return;
        }
        // The first k eligible rows, then, in row order, only rows strictly
        // closer than the k-th best so far (found 16 at a time by the kernel):
        // ties keep the lower row, as a plain scan would.
        let mut i = 0;
        while s.best.len() < k && i < n {
            if Some(i) != skip {
                s.best.push((s.dist[i], i as u32));
            }
            i += 1;
        }
        s.best
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if s.best.len() < k {
            return;
        }
        let mut worst = s.best[k - 1].0;
        while let Some(off) = kern.first_below(&s.dist[i..n], worst) {
            let j = i + off;
            let acc = s.dist[j];
            let mut p = k - 1;
            while p > 0 && s.best[p - 1].0 > acc {
                s.best[p] = s.best[p - 1];
                p -= 1;
            }
            s.best[p] = (acc, j as u32);
            worst = s.best[k - 1].0;
            i = j + 1;
        }
    }

    /// Normalised kNN distance of `x`; per-column shares (summing to it) into `cols`.
    pub fn distance(&self, x: &[f32], s: &mut KnnScratch, cols: &mut [f64]) -> f64 {
        cols.iter_mut().for_each(|c| *c = 0.0);
        if self.n_rows() == 0 {
            return 0.0;
        }
        self.nearest(x, None, s);
        let kk = s.best.len().max(1) as f64;
        let scale = 1.0 / (kk * self.norm as f64);
        for &(sq, i) in &s.best {
            if sq <= 0.0 {
                continue;
            }
            let dist = (sq as f64).sqrt();
            let r = &self.rows[i as usize * self.d..(i as usize + 1) * self.d];
            for ((c, &a), &b) in cols.iter_mut().zip(r).zip(x) {
                let t = (a - b) as f64;
                *c += t * t / dist * scale;
            }
        }
        mean_dist(&s.best) / self.norm as f64
    }
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

    /// The k nearest by brute force (the same kernel over all rows at once,
    /// so the same arithmetic), ties to the lower row.
    fn brute(r: &Reference, x: &[f32], skip: Option<usize>) -> Vec<(f32, u32)> {
        let (n, d) = (r.n_rows(), r.d);
        let pad = n.div_ceil(SQ_DIST_BLOCK) * SQ_DIST_BLOCK;
        let mut cols = vec![0.0f32; pad * d];
        for i in 0..n {
            for j in 0..d {
                cols[j * pad + i] = r.rows[i * d + j];
            }
        }
        let mut dist = vec![0.0f32; pad];
        kernels::selected().sq_dists(&mut dist, &cols, x);
        let mut all: Vec<(f32, u32)> = (0..n)
            .filter(|&i| Some(i) != skip)
            .map(|i| (dist[i], i as u32))
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
            let r = Reference::from_parts(d, K, rows, 1.0);
            let mut s = KnnScratch::default();
            for q in 0..40 {
                let x: Vec<f32> = if q % 3 == 0 {
                    r.rows[(q * 7 % n) * d..(q * 7 % n + 1) * d].to_vec()
                } else {
                    (0..d).map(|_| (rng.normal() * 4.0) as f32).collect()
                };
                let skip = (q % 2 == 0).then_some(q * 7 % n);
                r.nearest(&x, skip, &mut s);
                assert_eq!(s.best, brute(&r, &x, skip), "n={n} d={d} q={q}");
            }
        }
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
}
