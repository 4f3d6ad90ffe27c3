//! Portable reference kernels; the SIMD variants must agree with these.

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
/// As for `axpy`; shapes are checked by the caller.
pub unsafe fn sq_dists(out: &mut [f32], cols: &[f32], x: &[f32]) {
    let n = out.len();
    out.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        for (o, &c) in out.iter_mut().zip(&cols[j * n..(j + 1) * n]) {
            let t = c - xj;
            *o += t * t;
        }
    }
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
/// None needed; `unsafe` only to share the function-pointer type.
pub unsafe fn first_below(v: &[f32], threshold: f32) -> Option<usize> {
    v.iter().position(|&x| x < threshold)
}
