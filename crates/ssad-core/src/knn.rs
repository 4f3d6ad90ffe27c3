//! Distance to a stored reference sample of training rows, in the encoders'
//! robust-scaled space: the mean Euclidean distance to the k nearest reference
//! rows, divided by the reference rows' own mean (leave-one-out) distance. It
//! decomposes per column as sum_j (x_j - r_j)^2 / |x - r|, so explanations see it.
//!
//! The reference is the training sample minus its highest-scoring share, so
//! clustered anomalies inside a contaminated table cannot vouch for each other.

use crate::kernels::{self, KNN_BLOCK};

/// Reference rows kept in the model (at most).
pub const REFERENCE_ROWS: usize = 1024;
/// Neighbours averaged.
pub const K: usize = 5;
/// Widest reference rotated to its principal axes (the eigen-decomposition
/// costs O(d^3) at load); wider ones only order their columns by variance.
const ROTATE_MAX_D: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Columns per row.
    pub d: usize,
    pub k: usize,
    /// Row-major `n x d` scaled values.
    pub rows: Vec<f32>,
    /// Mean leave-one-out kNN distance of the reference rows (>0).
    pub norm: f32,
    /// Derived from `rows` when built or decoded: the search index.
    index: Index,
}

/// The search index: the rows in a rotated frame where distances are the same
/// but the leading axes carry most of the spread, sorted along the first axis
/// and cut into blocks of `KNN_BLOCK` for the SIMD kernel. A query visits the
/// blocks outward from its own position on the first axis and stops once the
/// gap on that axis alone exceeds its k-th best distance; inside a block the
/// kernel stops once no row can still qualify. Both bounds are exact, so the
/// neighbours are those of a full scan.
#[derive(Clone, Debug, PartialEq, Default)]
struct Index {
    frame: Frame,
    /// Columns left out of the search, with the value every row has there.
    consts: Vec<(u32, f32)>,
    /// Per block, dimension-major: value j of slot l at `j * KNN_BLOCK + l`.
    blocks: Vec<f32>,
    /// Reference row of each slot (`u32::MAX` for the padding of the last block).
    slot_row: Vec<u32>,
    /// Per block, the range of its rows on the first axis.
    lo: Vec<f32>,
    hi: Vec<f32>,
}

/// How a row maps into the index's frame.
#[derive(Clone, Debug, PartialEq)]
enum Frame {
    /// `y = bias + x R` (`d x m` row-major: the principal axes of the m varying
    /// columns by decreasing variance; zero rows for the columns left out).
    Rotate { r: Vec<f32>, bias: Vec<f32> },
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
    out: Vec<f32>,
}

impl Frame {
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
        Reference {
            d,
            k,
            rows,
            norm,
            index,
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

    /// Fill `s.best` with the k nearest reference rows of `x` (ascending by
    /// squared distance, ties to the lower row, as a plain scan would keep
    /// them), skipping row `skip`.
    fn nearest(&self, x: &[f32], skip: Option<usize>, s: &mut KnnScratch) {
        let ix = &self.index;
        let nb = ix.lo.len();
        let k = self.k;
        if nb == 0 || k == 0 {
            s.best.clear();
            return;
        }
        s.q.resize(ix.frame.dim(), 0.0);
        s.out.resize(KNN_BLOCK, 0.0);
        ix.frame.apply(x, &mut s.q);
        let mut held = Held::new(k);
        s.keys.clear();
        let q0 = s.q[0];
        // Blocks right of the query on the first axis from `right` up, left
        // of it from `left` down, nearer gap first; each side's gap on that
        // axis alone grows outward and bounds the distance of its rows.
        let mut right = ix.hi.partition_point(|&h| h < q0);
        let mut left = right;
        let gap = |b: usize| {
            let g = (ix.lo[b] - q0).max(q0 - ix.hi[b]).max(0.0);
            g * g
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
            let g = if go_right { gr } else { gl };
            if g > held.worst || g == f32::INFINITY {
                break;
            }
            let b = if go_right { right } else { left - 1 };
            right += go_right as usize;
            left -= !go_right as usize;
            self.visit(b, skip, s, &mut held);
        }
        s.keys.sort_unstable();
        // What the left-out columns add to every distance.
        let offset: f32 = ix
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
    #[inline]
    fn visit(&self, b: usize, skip: Option<usize>, s: &mut KnnScratch, held: &mut Held) {
        let ix = &self.index;
        let n = s.q.len() * KNN_BLOCK;
        let block = &ix.blocks[b * n..(b + 1) * n];
        let mut mask = kernels::selected().block_dists(&mut s.out, block, &s.q, held.worst);
        while mask != 0 {
            let l = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let row = ix.slot_row[b * KNN_BLOCK + l];
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
            let w = scale / (sq as f64).sqrt();
            let r = &self.rows[i as usize * self.d..(i as usize + 1) * self.d];
            for ((c, &a), &b) in cols.iter_mut().zip(r).zip(x) {
                let t = (a - b) as f64;
                *c += t * t * w;
            }
        }
        mean_dist(&s.best) / self.norm as f64
    }
}

/// The bound of a search: the k-th best candidate held so far.
struct Held {
    k: usize,
    /// Position and key of the candidate to beat once k are held.
    at: usize,
    key: u64,
    /// Its squared distance (infinite until k are held).
    worst: f32,
}

impl Held {
    fn new(k: usize) -> Self {
        Held {
            k,
            at: 0,
            key: u64::MAX,
            worst: f32::INFINITY,
        }
    }

    /// Keep `key` among the k smallest in `keys` (unordered).
    #[inline]
    fn offer(&mut self, keys: &mut Vec<u64>, key: u64) {
        if keys.len() < self.k {
            keys.push(key);
            if keys.len() < self.k {
                return;
            }
        } else if key < self.key {
            keys[self.at] = key;
        } else {
            return;
        }
        // Re-find the largest held key (k is small: a branch-free pass).
        (self.at, self.key) = (0, keys[0]);
        for (i, &c) in keys.iter().enumerate().skip(1) {
            if c > self.key {
                (self.at, self.key) = (i, c);
            }
        }
        self.worst = f32::from_bits((self.key >> 32) as u32);
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
        let mut y = vec![0.0f32; n * d];
        for (src, dst) in rows.chunks_exact(d_in).zip(y.chunks_exact_mut(d)) {
            frame.apply(src, dst);
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| {
            y[a as usize * d]
                .total_cmp(&y[b as usize * d])
                .then(a.cmp(&b))
        });
        let nb = n.div_ceil(KNN_BLOCK);
        // Padding slots sit at infinity: never within a bound.
        let mut blocks = vec![f32::INFINITY; nb * KNN_BLOCK * d];
        let mut slot_row = vec![u32::MAX; nb * KNN_BLOCK];
        let (mut lo, mut hi) = (vec![f32::INFINITY; nb], vec![f32::NEG_INFINITY; nb]);
        for (slot, &row) in order.iter().enumerate() {
            let (b, l) = (slot / KNN_BLOCK, slot % KNN_BLOCK);
            let v = &y[row as usize * d..(row as usize + 1) * d];
            for (j, &vj) in v.iter().enumerate() {
                blocks[(b * d + j) * KNN_BLOCK + l] = vj;
            }
            slot_row[slot] = row;
            lo[b] = lo[b].min(v[0]);
            hi[b] = hi[b].max(v[0]);
        }
        Index {
            frame,
            consts,
            blocks,
            slot_row,
            lo,
            hi,
        }
    }
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
        let consts = (0..d)
            .filter(|j| !keep.contains(j))
            .map(|j| (j as u32, rows[j]))
            .collect();
        let m = keep.len();
        let mut mean = vec![0.0f64; m];
        for r in rows.chunks_exact(d) {
            for (mu, &j) in mean.iter_mut().zip(&keep) {
                *mu += r[j] as f64 / n as f64;
            }
        }
        let mut cov = vec![0.0f64; m * m];
        for r in rows.chunks_exact(d) {
            for a in 0..m {
                let da = r[keep[a]] as f64 - mean[a];
                for b in a..m {
                    cov[a * m + b] += da * (r[keep[b]] as f64 - mean[b]);
                }
            }
        }
        for a in 0..m {
            for b in 0..a {
                cov[a * m + b] = cov[b * m + a];
            }
        }
        if m > ROTATE_MAX_D {
            let mut perm: Vec<usize> = (0..m).collect();
            perm.sort_by(|&a, &b| {
                cov[b * (m + 1)]
                    .total_cmp(&cov[a * (m + 1)])
                    .then(a.cmp(&b))
            });
            return (
                Frame::Permute(perm.iter().map(|&a| keep[a] as u32).collect()),
                consts,
            );
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
        (Frame::Rotate { r, bias }, consts)
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
                r.nearest(&x, skip, &mut s);
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
        flat.nearest(&[1.0, 3.0], Some(1), &mut s);
        assert_eq!(s.best, vec![(4.0, 0), (4.0, 2), (4.0, 3)]);
    }
}
