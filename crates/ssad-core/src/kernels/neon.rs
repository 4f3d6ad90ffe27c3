//! aarch64 NEON kernels (4 lanes), with scalar tails. Each keeps the
//! contracts the x86 variants keep (`gemv_rows` and `block_dists2` bit for
//! bit what `gemv` and `block_dists` give), and the kernel tests run them
//! against the scalar reference: `bash scripts/test-aarch64.sh` does that on
//! an x86-64 machine under QEMU.

use std::arch::aarch64::*;

/// # Safety
/// NEON must be available; `y.len() == x.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n.
        unsafe {
            let py = y.as_mut_ptr().add(i);
            vst1q_f32(
                py,
                vfmaq_n_f32(vld1q_f32(py), vld1q_f32(x.as_ptr().add(i)), a),
            );
        }
        i += 4;
    }
    for j in i..n {
        y[j] += a * x[j];
    }
}

/// # Safety
/// NEON must be available; `a.len() == b.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut s = vdupq_n_f32(0.0);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n.
        unsafe {
            s = vfmaq_f32(
                s,
                vld1q_f32(a.as_ptr().add(i)),
                vld1q_f32(b.as_ptr().add(i)),
            );
        }
        i += 4;
    }
    let mut total = vaddvq_f32(s);
    for j in i..n {
        total += a[j] * b[j];
    }
    total
}

/// Peak FMA throughput with 12 independent accumulators, in GFLOP/s.
///
/// # Safety
/// NEON must be available.
#[target_feature(enable = "neon")]
pub unsafe fn fma_peak(iterations: u64) -> f64 {
    let m = vdupq_n_f32(0.999_999);
    let c = vdupq_n_f32(1e-7);
    let mut acc = [vdupq_n_f32(1.0); 12];
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = vfmaq_f32(c, *a, m);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(&acc);
    (iterations * 12 * 4 * 2) as f64 / secs / 1e9
}

read_peak!(
    read_peak,
    "neon",
    float32x4_t,
    vdupq_n_f32(0.0),
    vld1q_f32,
    vaddq_f32,
    4
);

/// `y = b + x W` (W row-major, `x.len()` rows of `y.len()`): 16 outputs at a
/// time in two sets of four registers (even and odd inputs), so eight FMA
/// chains hide the latency and each weight is loaded once; zero inputs
/// (hidden columns, one-hot zeros) are skipped. The last `n % 4` outputs are
/// scalar, with the same two chains and order.
///
/// # Safety
/// NEON must be available; `b.len() == y.len()`, `w.len() == x.len() * y.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn gemv(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
    let n = y.len();
    let vec_end = n - n % 4;
    let mut o = 0;
    while o < vec_end {
        let blocks = ((vec_end - o) / 4).min(4);
        // SAFETY: o + 4 blocks <= vec_end <= n; every row of w is n long.
        unsafe {
            let z = vdupq_n_f32(0.0);
            let (mut a, mut c) = ([z; 4], [z; 4]);
            for (k, v) in a.iter_mut().enumerate().take(blocks) {
                *v = vld1q_f32(b.as_ptr().add(o + 4 * k));
            }
            for (i, &xi) in x.iter().enumerate() {
                if xi == 0.0 {
                    continue;
                }
                let row = w.as_ptr().add(i * n + o);
                let acc = if i % 2 == 0 { &mut a } else { &mut c };
                for (k, v) in acc.iter_mut().enumerate().take(blocks) {
                    *v = vfmaq_n_f32(*v, vld1q_f32(row.add(4 * k)), xi);
                }
            }
            for k in 0..blocks {
                vst1q_f32(y.as_mut_ptr().add(o + 4 * k), vaddq_f32(a[k], c[k]));
            }
        }
        o += 4 * blocks;
    }
    for j in vec_end..n {
        let (mut s0, mut s1) = (b[j], 0.0f32);
        for (i, &xi) in x.iter().enumerate() {
            if xi == 0.0 {
                continue;
            }
            let s = if i % 2 == 0 { &mut s0 } else { &mut s1 };
            *s = xi.mul_add(w[i * n + j], *s);
        }
        y[j] = s0 + s1;
    }
}

/// `gemv` for `m` rows, each row bit for bit what `gemv` gives it.
///
/// # Safety
/// NEON available; `y.len() == m n`, `x.len() == m k`, `w.len() == k n`
/// with `n = b.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn gemv_rows(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let (n, k) = (b.len(), x.len().checked_div(m).unwrap_or(0));
    for r in 0..m {
        // SAFETY: row r of y and x, shapes as the caller checked.
        unsafe { gemv(&mut y[r * n..(r + 1) * n], b, w, &x[r * k..(r + 1) * k]) };
    }
}

/// `Y = 1 b + X W` for `m` rows: four rows at a time share each weight load
/// (4 rows x 8 outputs in registers), the rest row by row with `gemv`.
///
/// # Safety
/// As for `gemv_rows`.
#[target_feature(enable = "neon")]
pub unsafe fn gemm(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let (n, k) = (b.len(), x.len().checked_div(m).unwrap_or(0));
    let vec_end = n - n % 8;
    let mut r = 0;
    while r + 4 <= m {
        let mut o = 0;
        while o < vec_end {
            // SAFETY: rows r..r + 4 of x and y, outputs o..o + 8 <= n.
            unsafe {
                let b0 = vld1q_f32(b.as_ptr().add(o));
                let b1 = vld1q_f32(b.as_ptr().add(o + 4));
                let mut acc = [[b0, b1]; 4];
                for i in 0..k {
                    let row = w.as_ptr().add(i * n + o);
                    let (w0, w1) = (vld1q_f32(row), vld1q_f32(row.add(4)));
                    for (q, a) in acc.iter_mut().enumerate() {
                        let xv = x[(r + q) * k + i];
                        a[0] = vfmaq_n_f32(a[0], w0, xv);
                        a[1] = vfmaq_n_f32(a[1], w1, xv);
                    }
                }
                for (q, a) in acc.iter().enumerate() {
                    let yp = y.as_mut_ptr().add((r + q) * n + o);
                    vst1q_f32(yp, a[0]);
                    vst1q_f32(yp.add(4), a[1]);
                }
            }
            o += 8;
        }
        for q in r..r + 4 {
            for j in vec_end..n {
                let mut s = b[j];
                for i in 0..k {
                    s = x[q * k + i].mul_add(w[i * n + j], s);
                }
                y[q * n + j] = s;
            }
        }
        r += 4;
    }
    // SAFETY: the remaining rows, shapes as the caller checked.
    unsafe { gemv_rows(&mut y[r * n..], b, w, &x[r * k..], m - r) };
}

/// `out = base + sum of the listed rows`, in the order listed (as scalar).
///
/// # Safety
/// NEON available; `base.len() == out.len()` and every listed row of
/// `out.len()` values lies inside `rows`.
#[target_feature(enable = "neon")]
pub unsafe fn add_rows(out: &mut [f32], base: &[f32], rows: &[f32], idx: &[u16]) {
    let h = out.len();
    let mut o = 0;
    while o + 4 <= h {
        // SAFETY: o + 4 <= h, inside base, out and each listed row.
        unsafe {
            let mut acc = vld1q_f32(base.as_ptr().add(o));
            for &j in idx {
                acc = vaddq_f32(acc, vld1q_f32(rows.as_ptr().add(j as usize * h + o)));
            }
            vst1q_f32(out.as_mut_ptr().add(o), acc);
        }
        o += 4;
    }
    for i in o..h {
        let mut s = base[i];
        for &j in idx {
            s += rows[j as usize * h + i];
        }
        out[i] = s;
    }
}

/// The 16 lanes of four vectors at or below `bound`, as a bit mask.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn within(s: &[float32x4_t; 4], bound: float32x4_t) -> u32 {
    let bits: [u32; 4] = [1, 2, 4, 8];
    // SAFETY: `bits` holds four u32.
    let bits = unsafe { vld1q_u32(bits.as_ptr()) };
    let mut mask = 0u32;
    for (q, v) in s.iter().enumerate() {
        mask |= vaddvq_u32(vandq_u32(vcleq_f32(*v, bound), bits)) << (4 * q);
    }
    mask
}

/// Squared distances from `x` to the 16 rows of `block` (dimension-major),
/// with the scalar association (dimension j feeds chain j mod 4, the chains
/// summed at every check) and an early exit every four dimensions once no
/// row is within `bound`.
///
/// # Safety
/// NEON available; `block.len() == 16 * x.len()`, `out.len() == 16`.
#[target_feature(enable = "neon")]
pub unsafe fn block_dists(out: &mut [f32], block: &[f32], x: &[f32], bound: f32) -> u32 {
    let d = x.len();
    let p = block.as_ptr();
    let bv = vdupq_n_f32(bound);
    let z = vdupq_n_f32(0.0);
    // acc[chain][quarter of the 16 lanes]
    let mut acc = [[z; 4]; 4];
    let mut j = 0;
    loop {
        let end = (j + 4).min(d);
        while j < end {
            let vx = vdupq_n_f32(x[j]);
            let chain = &mut acc[j % 4];
            for (q, a) in chain.iter_mut().enumerate() {
                // SAFETY: j < d, so (j + 1) * 16 <= block.len().
                let t = vsubq_f32(unsafe { vld1q_f32(p.add(j * 16 + 4 * q)) }, vx);
                *a = vfmaq_f32(*a, t, t);
            }
            j += 1;
        }
        let s: [float32x4_t; 4] = std::array::from_fn(|q| {
            vaddq_f32(
                vaddq_f32(acc[0][q], acc[1][q]),
                vaddq_f32(acc[2][q], acc[3][q]),
            )
        });
        // SAFETY: NEON is enabled for this function.
        let mask = unsafe { within(&s, bv) };
        if mask == 0 || j == d {
            for (q, v) in s.iter().enumerate() {
                // SAFETY: out.len() == 16.
                unsafe { vst1q_f32(out.as_mut_ptr().add(4 * q), *v) };
            }
            return mask;
        }
    }
}

/// Two `block_dists` calls: the same bits lane for lane.
///
/// # Safety
/// As for `block_dists`, for both blocks; `out.len() == 32`.
#[target_feature(enable = "neon")]
pub unsafe fn block_dists2(out: &mut [f32], a: &[f32], b: &[f32], x: &[f32], bound: f32) -> u32 {
    let (oa, ob) = out.split_at_mut(16);
    // SAFETY: as the caller checked for both blocks.
    unsafe { block_dists(oa, a, x, bound) | block_dists(ob, b, x, bound) << 16 }
}

/// Per query and block, the least of `norms[slot] + q . row` (see
/// `Kernels::block_mins`): two queries by two blocks at a time, so each
/// load of the reference serves both queries (16 accumulators).
///
/// # Safety
/// NEON available; `norms.len() == 16 nb`, `mins.len() == r nb`,
/// `q.len() == r m`, `blocks.len() == 16 nb m`.
#[target_feature(enable = "neon")]
pub unsafe fn block_mins(mins: &mut [f32], blocks: &[f32], norms: &[f32], q: &[f32], r: usize) {
    let nb = norms.len() / 16;
    let m = q.len().checked_div(r).unwrap_or(0);
    let (pb, pn) = (blocks.as_ptr(), norms.as_ptr());
    let mut q0 = 0;
    while q0 < r {
        let rows = if r - q0 >= 2 { 2 } else { 1 };
        let mut b0 = 0;
        while b0 < nb {
            let cols = if nb - b0 >= 2 { 2 } else { 1 };
            // SAFETY: q0 + rows <= r and b0 + cols <= nb: every read lies
            // inside q, norms and blocks, every write inside mins.
            unsafe {
                let z = vdupq_n_f32(0.0);
                let mut acc = [[[z; 4]; 2]; 2];
                for row in acc.iter_mut().take(rows) {
                    for (t, blk) in row.iter_mut().enumerate().take(cols) {
                        for (l, a) in blk.iter_mut().enumerate() {
                            *a = vld1q_f32(pn.add((b0 + t) * 16 + 4 * l));
                        }
                    }
                }
                for j in 0..m {
                    let qv: [f32; 2] =
                        std::array::from_fn(
                            |qi| if qi < rows { q[(q0 + qi) * m + j] } else { 0.0 },
                        );
                    #[allow(clippy::needless_range_loop)] // t and l index both queries' tiles
                    for t in 0..cols {
                        let base = pb.add(((b0 + t) * m + j) * 16);
                        for l in 0..4 {
                            let v = vld1q_f32(base.add(4 * l));
                            for (row, &x) in acc.iter_mut().zip(&qv).take(rows) {
                                row[t][l] = vfmaq_n_f32(row[t][l], v, x);
                            }
                        }
                    }
                }
                for (qi, row) in acc.iter().enumerate().take(rows) {
                    for (t, a) in row.iter().enumerate().take(cols) {
                        let least = vminq_f32(vminq_f32(a[0], a[1]), vminq_f32(a[2], a[3]));
                        mins[(q0 + qi) * nb + b0 + t] = vminvq_f32(least);
                    }
                }
            }
            b0 += cols;
        }
        q0 += rows;
    }
}
