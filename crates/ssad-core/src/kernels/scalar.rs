//! Portable reference kernels; the SIMD variants must agree with these.

use super::common::KNN_BLOCK;

/// # Safety
/// None needed beyond equal lengths (checked by the caller); `unsafe` only to
/// share the function-pointer type of the SIMD variants.
pub unsafe fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// # Safety
/// As for `axpy`.
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four partial sums: the same association as the SIMD lanes, roughly.
    let mut acc = [0.0f32; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for l in 0..4 {
            acc[l] += a[c * 4 + l] * b[c * 4 + l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in chunks * 4..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Peak of scalar multiply-adds (8 independent chains), in GFLOP/s.
pub fn fma_peak(iterations: u64) -> f64 {
    let mut acc = [1.0f32; 8];
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    (iterations * 8 * 2) as f64 / secs / 1e9
}

/// Rate at which one core reads `buf` (8 chains of adds) `iterations`
/// times, in GB/s.
pub fn read_peak(buf: &[f32], iterations: u64) -> f64 {
    let mut acc = [0.0f32; 8];
    let gbs = super::common::giga_rate(iterations, (buf.len() / 8 * 32) as u64, || {
        for run in std::hint::black_box(buf).chunks_exact(8) {
            for (a, v) in acc.iter_mut().zip(run) {
                *a += v;
            }
        }
    });
    std::hint::black_box(acc);
    gbs
}

/// # Safety
/// As for `axpy`; shapes are checked by the caller.
pub unsafe fn gemv(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
    let n = y.len();
    y.copy_from_slice(b);
    for (i, &xi) in x.iter().enumerate() {
        if xi != 0.0 {
            for (yo, &wo) in y.iter_mut().zip(&w[i * n..(i + 1) * n]) {
                *yo += xi * wo;
            }
        }
    }
}

/// # Safety
/// As for `axpy`; shapes are checked by the caller (`block.len() == 16 d`,
/// `out.len() == 16`). Four accumulator chains per lane (dimension j feeds
/// chain j mod 4), summed at every check: the association of the SIMD variants.
pub unsafe fn block_dists(out: &mut [f32], block: &[f32], x: &[f32], bound: f32) -> u32 {
    let d = x.len();
    let mut acc = [[0.0f32; KNN_BLOCK]; 4];
    let mut j = 0;
    loop {
        let end = (j + 4).min(d);
        while j < end {
            let row = &block[j * KNN_BLOCK..(j + 1) * KNN_BLOCK];
            for (a, &r) in acc[j % 4].iter_mut().zip(row) {
                let t = r - x[j];
                *a += t * t;
            }
            j += 1;
        }
        let mut mask = 0u32;
        for (l, o) in out.iter_mut().enumerate() {
            *o = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
            if *o <= bound {
                mask |= 1 << l;
            }
        }
        if mask == 0 || j == d {
            return mask;
        }
    }
}

/// # Safety
/// None beyond the shapes, which the caller checked.
pub unsafe fn block_mins(mins: &mut [f32], blocks: &[f32], norms: &[f32], q: &[f32], r: usize) {
    let nb = norms.len() / KNN_BLOCK;
    let m = q.len().checked_div(r).unwrap_or(0);
    for (qi, out) in q
        .chunks_exact(m.max(1))
        .zip(mins.chunks_exact_mut(nb.max(1)))
    {
        for (b, o) in out.iter_mut().enumerate() {
            let mut acc = [0.0f32; KNN_BLOCK];
            acc.copy_from_slice(&norms[b * KNN_BLOCK..(b + 1) * KNN_BLOCK]);
            for (j, &qj) in qi.iter().enumerate().take(m) {
                let row = &blocks[(b * m + j) * KNN_BLOCK..(b * m + j + 1) * KNN_BLOCK];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += qj * v;
                }
            }
            *o = acc.iter().fold(f32::INFINITY, |a, &v| a.min(v));
        }
    }
}

/// Two `block_dists` calls (the SIMD variants interleave the blocks).
///
/// # Safety
/// As for `block_dists`; shapes are checked by the caller.
pub unsafe fn block_dists2(out: &mut [f32], a: &[f32], b: &[f32], x: &[f32], bound: f32) -> u32 {
    let (oa, ob) = out.split_at_mut(KNN_BLOCK);
    // SAFETY: the caller checked both blocks' shapes and `out`'s length.
    unsafe { block_dists(oa, a, x, bound) | block_dists(ob, b, x, bound) << 16 }
}

/// # Safety
/// As for `axpy`; shapes are checked by the caller.
pub unsafe fn gemm(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let (n, k) = (b.len(), x.len().checked_div(m).unwrap_or(0));
    for r in 0..m {
        // SAFETY: the caller checked the shapes; same contract as gemv.
        unsafe { gemv(&mut y[r * n..(r + 1) * n], b, w, &x[r * k..(r + 1) * k]) };
    }
}

/// # Safety
/// As for `axpy`; the caller checked that every listed row lies inside `rows`.
pub unsafe fn add_rows(out: &mut [f32], base: &[f32], rows: &[f32], idx: &[u16]) {
    let h = out.len();
    out.copy_from_slice(base);
    for &j in idx {
        let j = j as usize;
        for (o, &r) in out.iter_mut().zip(&rows[j * h..(j + 1) * h]) {
            *o += r;
        }
    }
}

/// # Safety
/// None beyond the lengths, which the caller checked.
pub unsafe fn log1p_capped(out: &mut [f32], v: &[f64], cap: f32) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = super::common::log1p_capped_one(x, cap);
    }
}

/// # Safety
/// As for `gemm` (the same shapes): each row as `gemv` computes it.
pub unsafe fn gemv_rows(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    // SAFETY: the caller checked the shapes.
    unsafe { gemm(y, b, w, x, m) }
}

/// The first position of the least value (NaN never least; 0 when there is
/// no number).
///
/// # Safety
/// None; `unsafe` only to share the function-pointer type.
pub unsafe fn least_at(v: &[f32]) -> usize {
    let mut at = 0;
    for (i, &x) in v.iter().enumerate() {
        if x < v[at] || v[at].is_nan() {
            at = i;
        }
    }
    at
}

/// # Safety
/// None; the caller checked `v.len() <= 64`.
pub unsafe fn not_above(v: &[f32], cut: f32) -> u64 {
    let mut mask = 0u64;
    for (i, &x) in v.iter().enumerate() {
        // Unordered counts as not above: a NaN on either side rules nothing out.
        mask |= u64::from(x.partial_cmp(&cut) != Some(std::cmp::Ordering::Greater)) << i;
    }
    mask
}

/// # Safety
/// None; the caller checked the lengths.
pub unsafe fn sq_diff_add(cols: &mut [f64], r: &[f32], x: &[f32], w: f64) {
    super::common::sq_diff_add_body(cols, r, x, w);
}
