//! x86-64 kernels: AVX2+FMA (8 lanes) and AVX-512F (16 lanes), with scalar tails.

use std::arch::x86_64::*;

/// Walks a grid of `$r` queries by `$nb` blocks in tiles of `$side` by
/// `$side`, single queries and blocks at the tails, expanding the caller's
/// `$tile!(queries, blocks, q0, b0)` with literal sizes for each.
macro_rules! tile_walk {
    ($tile:ident, $r:expr, $nb:expr, $side:tt) => {{
        let (r, nb) = ($r, $nb);
        let mut q0 = 0;
        while q0 < r {
            let tall = r - q0 >= $side;
            let mut b0 = 0;
            while b0 < nb {
                let wide = nb - b0 >= $side;
                match (tall, wide) {
                    (true, true) => $tile!($side, $side, q0, b0),
                    (true, false) => $tile!($side, 1, q0, b0),
                    (false, true) => $tile!(1, $side, q0, b0),
                    (false, false) => $tile!(1, 1, q0, b0),
                }
                b0 += if wide { $side } else { 1 };
            }
            q0 += if tall { $side } else { 1 };
        }
    }};
}

/// # Safety
/// The CPU must support AVX2 and FMA; `y.len() == x.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn axpy_avx2(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let va = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, both slices hold at least n elements.
        unsafe {
            let px = x.as_ptr().add(i);
            let py = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(
                py,
                _mm256_fmadd_ps(va, _mm256_loadu_ps(px), _mm256_loadu_ps(py)),
            );
        }
        i += 8;
    }
    for j in i..n {
        y[j] += a * x[j];
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        unsafe {
            s0 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                s0,
            );
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8)),
                s1,
            );
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            s0 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                s0,
            );
        }
        i += 8;
    }
    let s = _mm256_add_ps(s0, s1);
    let lo = _mm256_castps256_ps128(s);
    let hi = _mm256_extractf128_ps(s, 1);
    let q = _mm_add_ps(lo, hi);
    let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    let mut total = _mm_cvtss_f32(q);
    for j in i..n {
        total += a[j] * b[j];
    }
    total
}

/// # Safety
/// The CPU must support AVX-512F; `y.len() == x.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn axpy_avx512(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let va = _mm512_set1_ps(a);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        unsafe {
            let px = x.as_ptr().add(i);
            let py = y.as_mut_ptr().add(i);
            _mm512_storeu_ps(
                py,
                _mm512_fmadd_ps(va, _mm512_loadu_ps(px), _mm512_loadu_ps(py)),
            );
        }
        i += 16;
    }
    if i < n {
        // Masked tail: no scalar loop, no out-of-bounds access (masked lanes are not touched).
        let m: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
        // SAFETY: only the first n - i lanes are loaded or stored.
        unsafe {
            let px = x.as_ptr().add(i);
            let py = y.as_mut_ptr().add(i);
            let r = _mm512_fmadd_ps(
                va,
                _mm512_maskz_loadu_ps(m, px),
                _mm512_maskz_loadu_ps(m, py),
            );
            _mm512_mask_storeu_ps(py, m, r);
        }
    }
}

/// # Safety
/// The CPU must support AVX-512F; `a.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut s = _mm512_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        unsafe {
            s = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                s,
            );
        }
        i += 16;
    }
    if i < n {
        let m: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
        // SAFETY: masked loads read only the first n - i lanes.
        unsafe {
            s = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, a.as_ptr().add(i)),
                _mm512_maskz_loadu_ps(m, b.as_ptr().add(i)),
                s,
            );
        }
    }
    _mm512_reduce_add_ps(s)
}

macro_rules! fma_peak {
    ($name:ident, $feat:literal, $ty:ty, $set1:ident, $fmadd:ident, $lanes:expr) => {
        /// Peak FMA throughput with 12 independent accumulators, in GFLOP/s.
        ///
        /// # Safety
        /// The CPU must support the instructions of this variant.
        #[target_feature(enable = $feat)]
        pub unsafe fn $name(iterations: u64) -> f64 {
            let m = $set1(0.999_999);
            let c = $set1(1e-7);
            let mut acc: [$ty; 12] = [$set1(1.0); 12];
            let start = std::time::Instant::now();
            for _ in 0..iterations {
                for a in acc.iter_mut() {
                    *a = $fmadd(*a, m, c);
                }
            }
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(&acc);
            (iterations * 12 * $lanes * 2) as f64 / secs / 1e9
        }
    };
}
fma_peak!(
    fma_peak_avx2,
    "avx2,fma",
    __m256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    8
);
fma_peak!(
    fma_peak_avx512,
    "avx512f",
    __m512,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    16
);

/// Peak int8 multiply-add throughput of VNNI with 12 independent
/// accumulators, in GOP/s (a multiply and an add per byte pair, as FLOPs).
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
pub unsafe fn dot_peak_vnni(iterations: u64) -> f64 {
    let (a, b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-2));
    let mut acc = [_mm512_setzero_si512(); 12];
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        for c in acc.iter_mut() {
            *c = _mm512_dpbusd_epi32(*c, a, b);
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(&acc);
    (iterations * 12 * 64 * 2) as f64 / secs / 1e9
}

read_peak!(
    read_peak_avx2,
    "avx2,fma",
    __m256,
    _mm256_setzero_ps(),
    _mm256_loadu_ps,
    _mm256_add_ps,
    8
);
read_peak!(
    read_peak_avx512,
    "avx512f",
    __m512,
    _mm512_setzero_ps(),
    _mm512_loadu_ps,
    _mm512_add_ps,
    16
);

/// `y = b + x W` (W row-major, `x.len()` rows of `y.len()`), output held in
/// registers 128 or 64 lanes at a time so each weight is loaded once and
/// never `y`.
///
/// # Safety
/// AVX-512F must be present; `b.len() == y.len()`, `w.len() == x.len() * y.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemv_avx512(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
    let n = y.len();
    if n <= 32 {
        // SAFETY: shapes as checked by the caller.
        unsafe {
            match n {
                0 => {}
                1..=16 => gemv_narrow_avx512::<1, 1>(y, b, w, x, lanes16(n)),
                _ => gemv_narrow_avx512::<2, 1>(y, b, w, x, lanes16(n - 16)),
            }
        }
        return;
    }
    let mut o = 0;
    // 128-wide blocks read each weight row as one 512-byte run (the hardware
    // prefetcher streams it when the weights live in L2), then 64-wide ones.
    while o + 128 <= n {
        // SAFETY: o + 128 <= n; each row of w is n long.
        unsafe { gemv_block_avx512::<8>(y, b, w, x, o) };
        o += 128;
    }
    while o + 64 <= n {
        // SAFETY: o + 64 <= n; each row of w is n long.
        unsafe { gemv_block_avx512::<4>(y, b, w, x, o) };
        o += 64;
    }
    // The rest (under 64 outputs): one pass over the inputs with every
    // remaining 16-lane block in its own register, the last block masked.
    if o < n {
        // SAFETY: one row (x), columns o..n inside every row of w, b and y.
        unsafe { gemv_tail_avx512::<1>(y, b, w, x, o) };
    }
}

/// Outputs `o..o + 16 Q` of a one-row gemv: two sets of Q accumulators
/// (even and odd inputs) stay in registers, so 2 Q FMA chains hide the FMA
/// latency and each weight is loaded once. Every output lane is
/// `(b + even inputs in order) + (odd inputs in order)`, whatever Q.
///
/// # Safety
/// AVX-512F present; `w.len() == x.len() * n`, `b.len() == y.len() == n`
/// with `o + 16 Q <= n`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn gemv_block_avx512<const Q: usize>(
    y: &mut [f32],
    b: &[f32],
    w: &[f32],
    x: &[f32],
    o: usize,
) {
    let n = y.len();
    // SAFETY: lanes o..o + 16 Q of b, y and every row of w, as the caller checked.
    unsafe {
        let bp = b.as_ptr().add(o);
        let mut a: [__m512; Q] = std::array::from_fn(|q| _mm512_loadu_ps(bp.add(16 * q)));
        let mut c = [_mm512_setzero_ps(); Q];
        // Input `$i` (skipped when zero) into the accumulators `$acc`.
        macro_rules! add_input {
            ($acc:ident, $xi:expr, $i:expr) => {
                if $xi != 0.0 {
                    let vx = _mm512_set1_ps($xi);
                    let row = w.as_ptr().add($i * n + o);
                    for (q, acc) in $acc.iter_mut().enumerate() {
                        *acc = _mm512_fmadd_ps(vx, _mm512_loadu_ps(row.add(16 * q)), *acc);
                    }
                }
            };
        }
        let mut pairs = x.chunks_exact(2);
        let mut i = 0;
        for p in &mut pairs {
            add_input!(a, p[0], i);
            add_input!(c, p[1], i + 1);
            i += 2;
        }
        if let [xi] = pairs.remainder() {
            add_input!(a, *xi, i);
        }
        let yp = y.as_mut_ptr().add(o);
        for q in 0..Q {
            _mm512_storeu_ps(yp.add(16 * q), _mm512_add_ps(a[q], c[q]));
        }
    }
}

/// Outputs `o..n` (under 64) of `R` rows of a gemv: one pass over the
/// inputs with every remaining 16-lane block in its own register, the last
/// block masked (the gemm's tile, which computes each row as for one).
///
/// # Safety
/// AVX-512F present; `x.len() == R k`, `y.len() == R n`, `w.len() == k n`
/// with `n = b.len()`; `o < n`.
#[target_feature(enable = "avx512f")]
unsafe fn gemv_tail_avx512<const R: usize>(
    y: &mut [f32],
    b: &[f32],
    w: &[f32],
    x: &[f32],
    o: usize,
) {
    let n = b.len();
    let width = n - o;
    let blocks = width.div_ceil(16);
    let last = lanes16(width - 16 * (blocks - 1));
    let dims = (n, x.len() / R);
    // SAFETY: R rows, columns o..n inside every row of w, b and y.
    unsafe {
        match blocks {
            1 => gemm_tile_avx512::<R, 1>(y, b, w, x, dims, 0, o, last),
            2 => gemm_tile_avx512::<R, 2>(y, b, w, x, dims, 0, o, last),
            3 => gemm_tile_avx512::<R, 3>(y, b, w, x, dims, 0, o, last),
            _ => gemm_tile_avx512::<R, 4>(y, b, w, x, dims, 0, o, last),
        }
    }
}

/// `gemv_avx512` for at most 32 outputs (a small network's upper layers),
/// for `R` rows of `x` and `y` (one row inline, two in `gemv_rows`): inputs
/// in four phases (i mod 4), each with its own accumulators, so 4 B FMA
/// chains a row hide the latency that one or two chains would expose. Zero
/// inputs are not skipped: after a ReLU they come at random, and a branch
/// on them would mispredict more than the multiply costs.
///
/// # Safety
/// AVX-512F present; `w.len() == k * n` with `n = b.len()`, `x.len() == R k`,
/// `y.len() == R n`, `16 (B - 1) + popcount(last) == n`.
#[target_feature(enable = "avx512f")]
unsafe fn gemv_narrow_avx512<const B: usize, const R: usize>(
    y: &mut [f32],
    b: &[f32],
    w: &[f32],
    x: &[f32],
    last: __mmask16,
) {
    let n = b.len();
    let k = x.len() / R;
    let mask = |q: usize| if q + 1 == B { last } else { 0xFFFF };
    let mut acc = [[[_mm512_setzero_ps(); B]; 4]; R];
    let mut i = 0;
    while i + 4 <= k {
        for p in 0..4 {
            let v: [__m512; R] = std::array::from_fn(|r| _mm512_set1_ps(x[r * k + i + p]));
            // SAFETY: row i + p of w holds n values; masked lanes are not read.
            let row = unsafe { w.as_ptr().add((i + p) * n) };
            #[allow(clippy::needless_range_loop)] // q indexes the rows' phase arrays at once
            for q in 0..B {
                let wv = unsafe { _mm512_maskz_loadu_ps(mask(q), row.add(16 * q)) };
                for r in 0..R {
                    acc[r][p][q] = _mm512_fmadd_ps(v[r], wv, acc[r][p][q]);
                }
            }
        }
        i += 4;
    }
    while i < k {
        let v: [__m512; R] = std::array::from_fn(|r| _mm512_set1_ps(x[r * k + i]));
        // SAFETY: as above.
        let row = unsafe { w.as_ptr().add(i * n) };
        #[allow(clippy::needless_range_loop)] // q indexes the rows' phase arrays at once
        for q in 0..B {
            let wv = unsafe { _mm512_maskz_loadu_ps(mask(q), row.add(16 * q)) };
            for r in 0..R {
                acc[r][0][q] = _mm512_fmadd_ps(v[r], wv, acc[r][0][q]);
            }
        }
        i += 1;
    }
    for (r, a) in acc.iter().enumerate() {
        #[allow(clippy::needless_range_loop)] // q indexes the rows' phase arrays at once
        for q in 0..B {
            // SAFETY: lanes of block q inside b and row r of y (masked).
            unsafe {
                let bv = _mm512_maskz_loadu_ps(mask(q), b.as_ptr().add(16 * q));
                let s = _mm512_add_ps(
                    _mm512_add_ps(a[0][q], a[1][q]),
                    _mm512_add_ps(a[2][q], a[3][q]),
                );
                _mm512_mask_storeu_ps(
                    y.as_mut_ptr().add(r * n + 16 * q),
                    mask(q),
                    _mm512_add_ps(bv, s),
                );
            }
        }
    }
}

/// `gemv_avx512` for `m` rows (`y`: m x n, `x`: m x k) with each pair of
/// rows sharing every weight load: each row of `y` is bit for bit what
/// `gemv_avx512` gives its row of `x` (the same accumulators, phases and
/// order; a zero input is skipped by a masked multiply-add, not a branch).
///
/// # Safety
/// AVX-512F present; `y.len() == m n`, `x.len() == m k`, `w.len() == k n`
/// with `n = b.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemv_rows_avx512(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let n = b.len();
    let k = x.len().checked_div(m).unwrap_or(0);
    let mut r = 0;
    while r + 2 <= m {
        // SAFETY: rows r and r + 1 of y and x, shapes as the caller checked.
        unsafe { gemv2_avx512(&mut y[r * n..(r + 2) * n], b, w, &x[r * k..(r + 2) * k]) };
        r += 2;
    }
    if r < m {
        // SAFETY: as above, one row.
        unsafe { gemv_avx512(&mut y[r * n..(r + 1) * n], b, w, &x[r * k..(r + 1) * k]) };
    }
}

/// Two rows of `gemv_rows_avx512`.
///
/// # Safety
/// As for `gemv_rows_avx512` with `m == 2`.
#[target_feature(enable = "avx512f")]
unsafe fn gemv2_avx512(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
    let n = b.len();
    let k = x.len() / 2;
    if n <= 32 {
        // SAFETY: shapes as checked by the caller.
        unsafe {
            match n {
                0 => {}
                1..=16 => gemv_narrow_avx512::<1, 2>(y, b, w, x, lanes16(n)),
                _ => gemv_narrow_avx512::<2, 2>(y, b, w, x, lanes16(n - 16)),
            }
        }
        return;
    }
    let (x0, x1) = x.split_at(k);
    // One input into one accumulator set of both rows: four weight loads
    // serve eight multiply-adds; a row's zero input leaves its set as is.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step(acc: &mut [[__m512; 4]; 2], row: *const f32, v: [f32; 2]) {
        let keep = |x: f32| if x != 0.0 { 0xFFFF } else { 0 };
        let (k0, k1) = (keep(v[0]), keep(v[1]));
        let (v0, v1) = (_mm512_set1_ps(v[0]), _mm512_set1_ps(v[1]));
        #[allow(clippy::needless_range_loop)] // q indexes two rows' arrays at once
        for q in 0..4 {
            // SAFETY: the caller's row holds 64 values from here.
            let wv = unsafe { _mm512_loadu_ps(row.add(16 * q)) };
            acc[0][q] = _mm512_mask3_fmadd_ps(v0, wv, acc[0][q], k0);
            acc[1][q] = _mm512_mask3_fmadd_ps(v1, wv, acc[1][q], k1);
        }
    }
    let mut o = 0;
    while o + 64 <= n {
        // SAFETY: o + 64 <= n; each row of w is n long; y holds 2 n.
        unsafe {
            let bp = b.as_ptr().add(o);
            let bias = [
                _mm512_loadu_ps(bp),
                _mm512_loadu_ps(bp.add(16)),
                _mm512_loadu_ps(bp.add(32)),
                _mm512_loadu_ps(bp.add(48)),
            ];
            let mut a = [bias, bias];
            let mut c = [[_mm512_setzero_ps(); 4]; 2];
            let mut i = 0;
            while i + 2 <= k {
                step(&mut a, w.as_ptr().add(i * n + o), [x0[i], x1[i]]);
                step(
                    &mut c,
                    w.as_ptr().add((i + 1) * n + o),
                    [x0[i + 1], x1[i + 1]],
                );
                i += 2;
            }
            if i < k {
                step(&mut a, w.as_ptr().add(i * n + o), [x0[i], x1[i]]);
            }
            for r in 0..2 {
                let yp = y.as_mut_ptr().add(r * n + o);
                for q in 0..4 {
                    _mm512_storeu_ps(yp.add(16 * q), _mm512_add_ps(a[r][q], c[r][q]));
                }
            }
        }
        o += 64;
    }
    if o < n {
        // SAFETY: two rows, columns o..n inside every row of w, b and y.
        unsafe { gemv_tail_avx512::<2>(y, b, w, x, o) };
    }
}

/// AVX2+FMA version of `gemv_avx512`: 32 outputs in registers at a time,
/// scalar tail for the last `n % 8` outputs.
///
/// # Safety
/// AVX2 and FMA must be present; shapes as for `gemv_avx512`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemv_avx2(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
    let n = y.len();
    let vec_end = n - n % 8;
    let mut o = 0;
    while o < vec_end {
        let blocks = ((vec_end - o) / 8).min(4);
        // SAFETY: o + 8 * blocks <= vec_end <= n, rows are n long.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (k, a) in acc.iter_mut().enumerate().take(blocks) {
                *a = _mm256_loadu_ps(b.as_ptr().add(o + 8 * k));
            }
            for (i, &xi) in x.iter().enumerate() {
                if xi == 0.0 {
                    continue;
                }
                let vx = _mm256_set1_ps(xi);
                let row = w.as_ptr().add(i * n + o);
                for (k, a) in acc.iter_mut().enumerate().take(blocks) {
                    *a = _mm256_fmadd_ps(vx, _mm256_loadu_ps(row.add(8 * k)), *a);
                }
            }
            for (k, a) in acc.iter().enumerate().take(blocks) {
                _mm256_storeu_ps(y.as_mut_ptr().add(o + 8 * k), *a);
            }
        }
        o += 8 * blocks;
    }
    for j in vec_end..n {
        let mut s = b[j];
        for (i, &xi) in x.iter().enumerate() {
            s += xi * w[i * n + j];
        }
        y[j] = s;
    }
}

/// # Safety
/// The CPU must support AVX-512F; `block.len() == 16 * x.len()`, `out.len() == 16`.
#[target_feature(enable = "avx512f")]
pub unsafe fn block_dists_avx512(out: &mut [f32], block: &[f32], x: &[f32], bound: f32) -> u32 {
    let d = x.len();
    let p = block.as_ptr();
    let bv = _mm512_set1_ps(bound);
    let (mut a0, mut a1, mut a2, mut a3) = (
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
    );
    // Dimension j feeds chain j mod 4 (the scalar association).
    macro_rules! step {
        ($acc:ident, $j:expr) => {{
            // SAFETY: $j < d, so ($j + 1) * 16 <= block.len().
            let t = _mm512_sub_ps(
                unsafe { _mm512_loadu_ps(p.add($j * 16)) },
                _mm512_set1_ps(x[$j]),
            );
            $acc = _mm512_fmadd_ps(t, t, $acc);
        }};
    }
    let mut j = 0;
    loop {
        if j + 4 <= d {
            step!(a0, j);
            step!(a1, j + 1);
            step!(a2, j + 2);
            step!(a3, j + 3);
            j += 4;
        } else {
            if j < d {
                step!(a0, j);
            }
            if j + 1 < d {
                step!(a1, j + 1);
            }
            if j + 2 < d {
                step!(a2, j + 2);
            }
            j = d;
        }
        let s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        let mask = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(s, bv) as u32;
        if mask == 0 || j == d {
            // SAFETY: out.len() == 16.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), s) };
            return mask;
        }
    }
}

/// Two blocks at once: `block_dists_avx512` of `a` into `out[..16]` and of
/// `b` into `out[16..]` (masks in the low and high 16 bits), with the same
/// arithmetic lane for lane, and eight chains in flight instead of four. The
/// scan stops once neither block holds a row within the bound.
///
/// # Safety
/// AVX-512F present; `a.len() == b.len() == 16 * x.len()`, `out.len() == 32`.
#[target_feature(enable = "avx512f")]
pub unsafe fn block_dists2_avx512(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    x: &[f32],
    bound: f32,
) -> u32 {
    let d = x.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let bv = _mm512_set1_ps(bound);
    let z = _mm512_setzero_ps();
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
    // Dimension j feeds chain j mod 4 of each block (the scalar association).
    macro_rules! step {
        ($ca:ident, $cb:ident, $j:expr) => {{
            let vx = _mm512_set1_ps(x[$j]);
            // SAFETY: $j < d, so ($j + 1) * 16 <= a.len() == b.len().
            let (ta, tb) = unsafe {
                (
                    _mm512_sub_ps(_mm512_loadu_ps(pa.add($j * 16)), vx),
                    _mm512_sub_ps(_mm512_loadu_ps(pb.add($j * 16)), vx),
                )
            };
            $ca = _mm512_fmadd_ps(ta, ta, $ca);
            $cb = _mm512_fmadd_ps(tb, tb, $cb);
        }};
    }
    let mut j = 0;
    loop {
        if j + 4 <= d {
            step!(a0, b0, j);
            step!(a1, b1, j + 1);
            step!(a2, b2, j + 2);
            step!(a3, b3, j + 3);
            j += 4;
        } else {
            if j < d {
                step!(a0, b0, j);
            }
            if j + 1 < d {
                step!(a1, b1, j + 1);
            }
            if j + 2 < d {
                step!(a2, b2, j + 2);
            }
            j = d;
        }
        let sa = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        let sb = _mm512_add_ps(_mm512_add_ps(b0, b1), _mm512_add_ps(b2, b3));
        let mask = (_mm512_cmp_ps_mask::<_CMP_LE_OQ>(sa, bv) as u32)
            | ((_mm512_cmp_ps_mask::<_CMP_LE_OQ>(sb, bv) as u32) << 16);
        if mask == 0 || j == d {
            // SAFETY: out.len() == 32.
            unsafe {
                _mm512_storeu_ps(out.as_mut_ptr(), sa);
                _mm512_storeu_ps(out.as_mut_ptr().add(16), sb);
            }
            return mask;
        }
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `block.len() == 16 * x.len()`, `out.len() == 16`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn block_dists_avx2(out: &mut [f32], block: &[f32], x: &[f32], bound: f32) -> u32 {
    let d = x.len();
    let p = block.as_ptr();
    let bv = _mm256_set1_ps(bound);
    // Lanes 0-7 and 8-15, four chains each.
    let mut lo = [_mm256_setzero_ps(); 4];
    let mut hi = [_mm256_setzero_ps(); 4];
    macro_rules! step {
        ($c:literal, $j:expr) => {{
            let vx = _mm256_set1_ps(x[$j]);
            // SAFETY: $j < d, so ($j + 1) * 16 <= block.len().
            let (a, b) = unsafe {
                (
                    _mm256_sub_ps(_mm256_loadu_ps(p.add($j * 16)), vx),
                    _mm256_sub_ps(_mm256_loadu_ps(p.add($j * 16 + 8)), vx),
                )
            };
            lo[$c] = _mm256_fmadd_ps(a, a, lo[$c]);
            hi[$c] = _mm256_fmadd_ps(b, b, hi[$c]);
        }};
    }
    let mut j = 0;
    loop {
        if j + 4 <= d {
            step!(0, j);
            step!(1, j + 1);
            step!(2, j + 2);
            step!(3, j + 3);
            j += 4;
        } else {
            if j < d {
                step!(0, j);
            }
            if j + 1 < d {
                step!(1, j + 1);
            }
            if j + 2 < d {
                step!(2, j + 2);
            }
            j = d;
        }
        let sl = _mm256_add_ps(_mm256_add_ps(lo[0], lo[1]), _mm256_add_ps(lo[2], lo[3]));
        let sh = _mm256_add_ps(_mm256_add_ps(hi[0], hi[1]), _mm256_add_ps(hi[2], hi[3]));
        let mask = (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(sl, bv)) as u32)
            | ((_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(sh, bv)) as u32) << 8);
        if mask == 0 || j == d {
            // SAFETY: out.len() == 16.
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr(), sl);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), sh);
            }
            return mask;
        }
    }
}

/// # Safety
/// AVX-512F present; `q.len() == r * m`, `mins.len() == r * nb`,
/// `blocks.len() == nb * 16 * m`, `norms.len() == nb * 16`.
#[target_feature(enable = "avx512f")]
pub unsafe fn block_mins_avx512(
    mins: &mut [f32],
    blocks: &[f32],
    norms: &[f32],
    q: &[f32],
    r: usize,
) {
    let nb = norms.len() / 16;
    let m = q.len().checked_div(r).unwrap_or(0);
    let (pb, pn, pq) = (blocks.as_ptr(), norms.as_ptr(), q.as_ptr());
    // A tile of R queries by B blocks: each block load feeds R multiply-adds,
    // each query broadcast B; R * B independent chains (4 x 4 in its own
    // function, with the four minima reduced together).
    macro_rules! tile {
        (4, 4, $q0:expr, $b0:expr) => {{
            // SAFETY: q0 + 4 <= r, b0 + 4 <= nb.
            unsafe { mins_4x4_avx512(mins, pb, pn, pq, m, nb, $q0, $b0) }
        }};
        ($r:literal, $b:literal, $q0:expr, $b0:expr) => {{
            let (q0, b0) = ($q0, $b0);
            // SAFETY: q0 + $r <= r and b0 + $b <= nb, so every read lies inside
            // `q`, `norms` and `blocks`, every write inside `mins`.
            let mut acc: [[__m512; $b]; $r] = [[_mm512_setzero_ps(); $b]; $r];
            for row in acc.iter_mut() {
                for (t, a) in row.iter_mut().enumerate() {
                    *a = unsafe { _mm512_loadu_ps(pn.add((b0 + t) * 16)) };
                }
            }
            for j in 0..m {
                let p: [__m512; $b] = std::array::from_fn(|t| unsafe {
                    _mm512_loadu_ps(pb.add(((b0 + t) * m + j) * 16))
                });
                for (i, row) in acc.iter_mut().enumerate() {
                    let v = _mm512_set1_ps(unsafe { *pq.add((q0 + i) * m + j) });
                    for (a, &pt) in row.iter_mut().zip(&p) {
                        *a = _mm512_fmadd_ps(v, pt, *a);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (t, a) in row.iter().enumerate() {
                    mins[(q0 + i) * nb + b0 + t] = _mm512_reduce_min_ps(*a);
                }
            }
        }};
    }
    tile_walk!(tile, r, nb, 4);
}

/// The least lane of each of four vectors, reduced together: halves of two
/// vectors meet in one min, so the four take 7 mins and 8 shuffles where four
/// `_mm512_reduce_min_ps` take 16 and 16. The least of a set is exact, so the
/// result is the same as reducing each alone.
///
/// # Safety
/// AVX-512F present.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn min4_avx512(v: &[__m512; 4]) -> [f32; 4] {
    // 128-bit quarters: [a0 a1 b0 b1] against [a2 a3 b2 b3], likewise c, d.
    let ab = _mm512_min_ps(
        _mm512_shuffle_f32x4::<0b01_00_01_00>(v[0], v[1]),
        _mm512_shuffle_f32x4::<0b11_10_11_10>(v[0], v[1]),
    );
    let cd = _mm512_min_ps(
        _mm512_shuffle_f32x4::<0b01_00_01_00>(v[2], v[3]),
        _mm512_shuffle_f32x4::<0b11_10_11_10>(v[2], v[3]),
    );
    // [ab0 ab2 cd0 cd2] against [ab1 ab3 cd1 cd3]: quarter q holds vector q.
    let m = _mm512_min_ps(
        _mm512_shuffle_f32x4::<0b10_00_10_00>(ab, cd),
        _mm512_shuffle_f32x4::<0b11_01_11_01>(ab, cd),
    );
    // Within each quarter: swap pairs, then neighbours.
    let m = _mm512_min_ps(m, _mm512_permute_ps::<0b01_00_11_10>(m));
    let m = _mm512_min_ps(m, _mm512_permute_ps::<0b10_11_00_01>(m));
    let mut out = [0.0f32; 16];
    // SAFETY: `out` holds 16 floats.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), m) };
    [out[0], out[4], out[8], out[12]]
}

/// The 4-query by 4-block tile of `block_mins_avx512` with its 16 chains in
/// named registers (as an array they were spilled to the stack).
///
/// # Safety
/// AVX-512F present; `q0 + 4` queries and `b0 + 4` blocks within the shapes
/// of `block_mins_avx512`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn mins_4x4_avx512(
    mins: &mut [f32],
    pb: *const f32,
    pn: *const f32,
    pq: *const f32,
    m: usize,
    nb: usize,
    q0: usize,
    b0: usize,
) {
    // SAFETY (whole body): the caller keeps every offset inside the shapes.
    unsafe {
        let n0 = _mm512_loadu_ps(pn.add(b0 * 16));
        let n1 = _mm512_loadu_ps(pn.add((b0 + 1) * 16));
        let n2 = _mm512_loadu_ps(pn.add((b0 + 2) * 16));
        let n3 = _mm512_loadu_ps(pn.add((b0 + 3) * 16));
        let (mut a00, mut a01, mut a02, mut a03) = (n0, n1, n2, n3);
        let (mut a10, mut a11, mut a12, mut a13) = (n0, n1, n2, n3);
        let (mut a20, mut a21, mut a22, mut a23) = (n0, n1, n2, n3);
        let (mut a30, mut a31, mut a32, mut a33) = (n0, n1, n2, n3);
        let stride = m * 16;
        let mut p = pb.add(b0 * stride);
        let (q_0, q_1, q_2, q_3) = (
            pq.add(q0 * m),
            pq.add((q0 + 1) * m),
            pq.add((q0 + 2) * m),
            pq.add((q0 + 3) * m),
        );
        for j in 0..m {
            let r0 = _mm512_loadu_ps(p);
            let r1 = _mm512_loadu_ps(p.add(stride));
            let r2 = _mm512_loadu_ps(p.add(2 * stride));
            let r3 = _mm512_loadu_ps(p.add(3 * stride));
            let v = _mm512_set1_ps(*q_0.add(j));
            a00 = _mm512_fmadd_ps(v, r0, a00);
            a01 = _mm512_fmadd_ps(v, r1, a01);
            a02 = _mm512_fmadd_ps(v, r2, a02);
            a03 = _mm512_fmadd_ps(v, r3, a03);
            let v = _mm512_set1_ps(*q_1.add(j));
            a10 = _mm512_fmadd_ps(v, r0, a10);
            a11 = _mm512_fmadd_ps(v, r1, a11);
            a12 = _mm512_fmadd_ps(v, r2, a12);
            a13 = _mm512_fmadd_ps(v, r3, a13);
            let v = _mm512_set1_ps(*q_2.add(j));
            a20 = _mm512_fmadd_ps(v, r0, a20);
            a21 = _mm512_fmadd_ps(v, r1, a21);
            a22 = _mm512_fmadd_ps(v, r2, a22);
            a23 = _mm512_fmadd_ps(v, r3, a23);
            let v = _mm512_set1_ps(*q_3.add(j));
            a30 = _mm512_fmadd_ps(v, r0, a30);
            a31 = _mm512_fmadd_ps(v, r1, a31);
            a32 = _mm512_fmadd_ps(v, r2, a32);
            a33 = _mm512_fmadd_ps(v, r3, a33);
            p = p.add(16);
        }
        for (i, acc) in [
            [a00, a01, a02, a03],
            [a10, a11, a12, a13],
            [a20, a21, a22, a23],
            [a30, a31, a32, a33],
        ]
        .iter()
        .enumerate()
        {
            let at = (q0 + i) * nb + b0;
            mins[at..at + 4].copy_from_slice(&min4_avx512(acc));
        }
    }
}

/// # Safety
/// AVX2 and FMA present; shapes as for `block_mins_avx512`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn block_mins_avx2(
    mins: &mut [f32],
    blocks: &[f32],
    norms: &[f32],
    q: &[f32],
    r: usize,
) {
    let nb = norms.len() / 16;
    let m = q.len().checked_div(r).unwrap_or(0);
    let (pb, pn, pq) = (blocks.as_ptr(), norms.as_ptr(), q.as_ptr());
    // A tile of R queries by 2 blocks (two 8-lane halves each): 4R chains.
    macro_rules! tile {
        ($r:literal, $b:literal, $q0:expr, $b0:expr) => {{
            let (q0, b0) = ($q0, $b0);
            // SAFETY: q0 + $r <= r and b0 + $b <= nb, so every read lies inside
            // `q`, `norms` and `blocks`, every write inside `mins`.
            let mut acc: [[__m256; 2 * $b]; $r] = [[_mm256_setzero_ps(); 2 * $b]; $r];
            for row in acc.iter_mut() {
                for (h, a) in row.iter_mut().enumerate() {
                    *a = unsafe { _mm256_loadu_ps(pn.add(b0 * 16 + h * 8)) };
                }
            }
            for j in 0..m {
                let p: [__m256; 2 * $b] = std::array::from_fn(|h| unsafe {
                    _mm256_loadu_ps(pb.add(((b0 + h / 2) * m + j) * 16 + (h % 2) * 8))
                });
                for (i, row) in acc.iter_mut().enumerate() {
                    let v = _mm256_set1_ps(unsafe { *pq.add((q0 + i) * m + j) });
                    for (a, &ph) in row.iter_mut().zip(&p) {
                        *a = _mm256_fmadd_ps(v, ph, *a);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for t in 0..$b {
                    let x = _mm256_min_ps(row[2 * t], row[2 * t + 1]);
                    let x = _mm_min_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
                    let x = _mm_min_ps(x, _mm_movehl_ps(x, x));
                    let x = _mm_min_ss(x, _mm_shuffle_ps::<1>(x, x));
                    mins[(q0 + i) * nb + b0 + t] = _mm_cvtss_f32(x);
                }
            }
        }};
    }
    tile_walk!(tile, r, nb, 2);
}

/// # Safety
/// AVX2 and FMA present; shapes as for `block_dists2_avx512`. Two calls of
/// `block_dists_avx2`: both blocks' chains would not fit in 16 registers.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn block_dists2_avx2(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    x: &[f32],
    bound: f32,
) -> u32 {
    let (oa, ob) = out.split_at_mut(16);
    // SAFETY: the caller checked both blocks' shapes and `out`'s length.
    unsafe { block_dists_avx2(oa, a, x, bound) | block_dists_avx2(ob, b, x, bound) << 16 }
}

/// Lane mask of the first `rem` (1..=16) lanes.
#[inline(always)]
fn lanes16(rem: usize) -> __mmask16 {
    if rem >= 16 {
        0xFFFF
    } else {
        ((1u32 << rem) - 1) as __mmask16
    }
}

/// One `R x 16B` tile of `Y = 1 b + X W`: R rows of X against B 16-lane column
/// blocks starting at `col`; every weight load feeds R FMAs, all R*B
/// accumulators stay in registers. `last` masks the final block.
///
/// # Safety
/// AVX-512F present; `row + R <= m`, `col + 16 (B - 1) + popcount(last) <= n`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_tile_avx512<const R: usize, const B: usize>(
    y: &mut [f32],
    b: &[f32],
    w: &[f32],
    x: &[f32],
    (n, k): (usize, usize),
    row: usize,
    col: usize,
    last: __mmask16,
) {
    let mask = |bb: usize| if bb + 1 == B { last } else { 0xFFFF };
    let mut acc = [[_mm512_setzero_ps(); B]; R];
    for bb in 0..B {
        // SAFETY: the masked lanes lie inside b (caller's contract).
        let bias = unsafe { _mm512_maskz_loadu_ps(mask(bb), b.as_ptr().add(col + 16 * bb)) };
        for a in acc.iter_mut() {
            a[bb] = bias;
        }
    }
    for i in 0..k {
        let mut wv = [_mm512_setzero_ps(); B];
        for (bb, v) in wv.iter_mut().enumerate() {
            // SAFETY: row i of w holds n values; the masked lanes lie inside it.
            *v = unsafe { _mm512_maskz_loadu_ps(mask(bb), w.as_ptr().add(i * n + col + 16 * bb)) };
        }
        for (r, a) in acc.iter_mut().enumerate() {
            let xv = _mm512_set1_ps(x[(row + r) * k + i]);
            for bb in 0..B {
                a[bb] = _mm512_fmadd_ps(xv, wv[bb], a[bb]);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (bb, v) in a.iter().enumerate() {
            // SAFETY: row + r < m; the masked lanes lie inside row r of y.
            unsafe {
                _mm512_mask_storeu_ps(
                    y.as_mut_ptr().add((row + r) * n + col + 16 * bb),
                    mask(bb),
                    *v,
                )
            };
        }
    }
}

/// # Safety
/// The CPU must support AVX-512F; shapes as checked by `Kernels::gemm`.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemm_avx512(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let (n, k) = (b.len(), x.len().checked_div(m).unwrap_or(0));
    let mut col = 0;
    while col < n {
        let width = (n - col).min(64);
        let blocks = width.div_ceil(16);
        let last = lanes16(width - 16 * (blocks - 1));
        let mut row = 0;
        while row < m {
            let rows = (m - row).min(4);
            macro_rules! tile {
                ($($r:literal, $b:literal);*) => {
                    match (rows, blocks) {
                        // SAFETY: row + rows <= m and col + width <= n by construction.
                        $(($r, $b) => unsafe {
                            gemm_tile_avx512::<$r, $b>(y, b, w, x, (n, k), row, col, last)
                        },)*
                        _ => unreachable!("rows and blocks are 1..=4"),
                    }
                };
            }
            tile!(1,1; 1,2; 1,3; 1,4; 2,1; 2,2; 2,3; 2,4; 3,1; 3,2; 3,3; 3,4; 4,1; 4,2; 4,3; 4,4);
            row += rows;
        }
        col += width;
    }
}

/// One `R x 8B` tile of `Y = 1 b + X W` with AVX2 (full 8-lane blocks only).
///
/// # Safety
/// AVX2 and FMA present; `row + R <= m`, `col + 8 B <= n`.
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_tile_avx2<const R: usize, const B: usize>(
    y: &mut [f32],
    b: &[f32],
    w: &[f32],
    x: &[f32],
    (n, k): (usize, usize),
    row: usize,
    col: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); B]; R];
    for bb in 0..B {
        // SAFETY: col + 8 B <= n.
        let bias = unsafe { _mm256_loadu_ps(b.as_ptr().add(col + 8 * bb)) };
        for a in acc.iter_mut() {
            a[bb] = bias;
        }
    }
    for i in 0..k {
        let mut wv = [_mm256_setzero_ps(); B];
        for (bb, v) in wv.iter_mut().enumerate() {
            // SAFETY: row i of w holds n >= col + 8 B values.
            *v = unsafe { _mm256_loadu_ps(w.as_ptr().add(i * n + col + 8 * bb)) };
        }
        for (r, a) in acc.iter_mut().enumerate() {
            let xv = _mm256_set1_ps(x[(row + r) * k + i]);
            for bb in 0..B {
                a[bb] = _mm256_fmadd_ps(xv, wv[bb], a[bb]);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (bb, v) in a.iter().enumerate() {
            // SAFETY: row + r < m, col + 8 B <= n.
            unsafe { _mm256_storeu_ps(y.as_mut_ptr().add((row + r) * n + col + 8 * bb), *v) };
        }
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; shapes as checked by `Kernels::gemm`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemm_avx2(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let (n, k) = (b.len(), x.len().checked_div(m).unwrap_or(0));
    let vec_end = n - n % 8;
    let mut col = 0;
    while col < vec_end {
        // 16 ymm registers: 4 rows x 2 blocks of accumulators, 2 weights, 1 broadcast.
        let blocks = ((vec_end - col) / 8).min(2);
        let mut row = 0;
        while row < m {
            let rows = (m - row).min(4);
            macro_rules! tile {
                ($($r:literal, $b:literal);*) => {
                    match (rows, blocks) {
                        // SAFETY: row + rows <= m and col + 8 blocks <= n.
                        $(($r, $b) => unsafe { gemm_tile_avx2::<$r, $b>(y, b, w, x, (n, k), row, col) },)*
                        _ => unreachable!("rows 1..=4, blocks 1..=2"),
                    }
                };
            }
            tile!(1,1; 1,2; 2,1; 2,2; 3,1; 3,2; 4,1; 4,2);
            row += rows;
        }
        col += 8 * blocks;
    }
    for r in 0..m {
        for o in vec_end..n {
            let mut s = b[o];
            for i in 0..k {
                s += x[r * k + i] * w[i * n + o];
            }
            y[r * n + o] = s;
        }
    }
}

/// # Safety
/// AVX-512F present; `base.len() == out.len()` and every listed row of
/// `out.len()` values lies inside `rows` (checked by `Kernels::add_rows`).
#[target_feature(enable = "avx512f")]
pub unsafe fn add_rows_avx512(out: &mut [f32], base: &[f32], rows: &[f32], idx: &[u16]) {
    let h = out.len();
    let mut o = 0;
    while o < h {
        let m = lanes16(h - o);
        // SAFETY: the masked lanes lie inside base, out and each listed row.
        unsafe {
            let mut acc = _mm512_maskz_loadu_ps(m, base.as_ptr().add(o));
            for &j in idx {
                let p = rows.as_ptr().add(j as usize * h + o);
                acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, p));
            }
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(o), m, acc);
        }
        o += 16;
    }
}

/// # Safety
/// AVX2 present; shapes as for `add_rows_avx512`.
#[target_feature(enable = "avx2")]
pub unsafe fn add_rows_avx2(out: &mut [f32], base: &[f32], rows: &[f32], idx: &[u16]) {
    let h = out.len();
    let mut o = 0;
    while o + 8 <= h {
        // SAFETY: o + 8 <= h, inside base, out and each listed row.
        unsafe {
            let mut acc = _mm256_loadu_ps(base.as_ptr().add(o));
            for &j in idx {
                acc = _mm256_add_ps(acc, _mm256_loadu_ps(rows.as_ptr().add(j as usize * h + o)));
            }
            _mm256_storeu_ps(out.as_mut_ptr().add(o), acc);
        }
        o += 8;
    }
    for i in o..h {
        out[i] = base[i] + idx.iter().map(|&j| rows[j as usize * h + i]).sum::<f32>();
    }
}

/// `log1p_capped` with the compiler's AVX2 vectorisation of the shared body.
///
/// # Safety
/// AVX2 and FMA present; `out.len() == v.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn log1p_capped_avx2(out: &mut [f32], v: &[f64], cap: f32) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = super::common::log1p_capped_one(x, cap);
    }
}

/// `log1p_capped` with the compiler's AVX-512 vectorisation of the shared body.
///
/// # Safety
/// AVX-512F present; `out.len() == v.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn log1p_capped_avx512(out: &mut [f32], v: &[f64], cap: f32) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = super::common::log1p_capped_one(x, cap);
    }
}

/// `gemv_avx2` row by row (the one-row order; AVX2 has too few registers
/// for two rows' accumulators).
///
/// # Safety
/// AVX2 and FMA present; shapes as for `gemv_rows_avx512`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemv_rows_avx2(y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let n = b.len();
    let k = x.len().checked_div(m).unwrap_or(0);
    for r in 0..m {
        // SAFETY: row r of y and x, shapes as the caller checked.
        unsafe { gemv_avx2(&mut y[r * n..(r + 1) * n], b, w, &x[r * k..(r + 1) * k]) };
    }
}

/// `least_at` 16 lanes at a time: a min pass (`vminps` passes over NaN in
/// its first operand), then the first lane equal to the least.
///
/// # Safety
/// AVX-512F present.
#[target_feature(enable = "avx512f")]
pub unsafe fn least_at_avx512(v: &[f32]) -> usize {
    let n = v.len();
    let inf = _mm512_set1_ps(f32::INFINITY);
    // SAFETY: every load is masked to lanes c..n of `v`.
    let load = |c: usize| unsafe { _mm512_mask_loadu_ps(inf, lanes16(n - c), v.as_ptr().add(c)) };
    let mut m = inf;
    for c in (0..n).step_by(16) {
        // The loaded value first: where it is NaN, min keeps `m`.
        m = _mm512_min_ps(load(c), m);
    }
    let g = _mm512_set1_ps(_mm512_reduce_min_ps(m));
    for c in (0..n).step_by(16) {
        // Only the lanes inside `v` (the padding is +inf too).
        let eq = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(lanes16(n - c), load(c), g);
        if eq != 0 {
            return c + eq.trailing_zeros() as usize;
        }
    }
    0
}

/// `least_at_avx512` with 8 lanes and a scalar tail.
///
/// # Safety
/// AVX2 present.
#[target_feature(enable = "avx2")]
pub unsafe fn least_at_avx2(v: &[f32]) -> usize {
    let n = v.len();
    let full = n - n % 8;
    let p = v.as_ptr();
    // SAFETY: loads of 8 lanes below `full`.
    let mut m = _mm256_set1_ps(f32::INFINITY);
    for c in (0..full).step_by(8) {
        m = _mm256_min_ps(unsafe { _mm256_loadu_ps(p.add(c)) }, m);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), m) };
    let g = v[full..]
        .iter()
        .chain(&lanes)
        .fold(f32::INFINITY, |a, &x| if x < a { x } else { a });
    let gv = _mm256_set1_ps(g);
    for c in (0..full).step_by(8) {
        // SAFETY: as above.
        let x = unsafe { _mm256_loadu_ps(p.add(c)) };
        let eq = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(x, gv)) as u32;
        if eq != 0 {
            return c + eq.trailing_zeros() as usize;
        }
    }
    v[full..]
        .iter()
        .position(|&x| x == g)
        .map_or(0, |i| full + i)
}

/// `not_above` 16 lanes at a time (`_CMP_NGT_UQ`: not greater, or unordered).
///
/// # Safety
/// AVX-512F present; `v.len() <= 64`.
#[target_feature(enable = "avx512f")]
pub unsafe fn not_above_avx512(v: &[f32], cut: f32) -> u64 {
    let n = v.len();
    let t = _mm512_set1_ps(cut);
    let mut mask = 0u64;
    for c in (0..n).step_by(16) {
        let lanes = lanes16(n - c);
        // SAFETY: the load is masked to lanes c..n of `v`.
        let x = unsafe { _mm512_maskz_loadu_ps(lanes, v.as_ptr().add(c)) };
        mask |= u64::from(_mm512_mask_cmp_ps_mask::<_CMP_NGT_UQ>(lanes, x, t)) << c;
    }
    mask
}

/// `not_above` 8 lanes at a time, the tail scalar.
///
/// # Safety
/// AVX present; `v.len() <= 64`.
#[target_feature(enable = "avx2")]
pub unsafe fn not_above_avx2(v: &[f32], cut: f32) -> u64 {
    let n = v.len();
    let full = n - n % 8;
    let t = _mm256_set1_ps(cut);
    let mut mask = 0u64;
    for c in (0..full).step_by(8) {
        // SAFETY: c + 8 <= full <= n.
        let x = unsafe { _mm256_loadu_ps(v.as_ptr().add(c)) };
        mask |= (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NGT_UQ>(x, t)) as u64) << c;
    }
    for (i, &x) in v.iter().enumerate().skip(full) {
        mask |= u64::from(x.partial_cmp(&cut) != Some(std::cmp::Ordering::Greater)) << i;
    }
    mask
}

/// `sq_diff_add` with the compiler's AVX2 vectorisation of the shared body.
///
/// # Safety
/// AVX2 present; equal lengths.
#[target_feature(enable = "avx2")]
pub unsafe fn sq_diff_add_avx2(cols: &mut [f64], r: &[f32], x: &[f32], w: f64) {
    super::common::sq_diff_add_body(cols, r, x, w);
}

/// `sq_diff_add` with the compiler's AVX-512 vectorisation of the shared body.
///
/// # Safety
/// AVX-512F present; equal lengths.
#[target_feature(enable = "avx512f")]
pub unsafe fn sq_diff_add_avx512(cols: &mut [f64], r: &[f32], x: &[f32], w: f64) {
    super::common::sq_diff_add_body(cols, r, x, w);
}

/// The portable int8 bound body, vectorised by the compiler for AVX2.
///
/// # Safety
/// AVX2 present; shapes checked by the caller (`Kernels::block_bounds_i8`).
#[target_feature(enable = "avx2")]
pub unsafe fn block_bounds_i8_avx2(
    bounds: &mut [f32],
    rows: &[i8],
    c: &[i32],
    err: &[f32],
    q: super::int8::Int8Query<'_>,
) {
    super::int8::block_bounds_i8_body(bounds, rows, c, err, q)
}

/// The int8 bounds with VNNI: one `vpdpbusd` adds a group's 4 query bytes
/// times 4 row bytes for one slot of 16 blocks (one a lane); the 16 slots'
/// sums stay in registers, and their vertical min is each block's least.
///
/// # Safety
/// AVX-512F and AVX-512 VNNI present; shapes checked by the caller.
#[target_feature(enable = "avx512f,avx512vnni")]
pub unsafe fn block_bounds_i8_vnni(
    bounds: &mut [f32],
    rows: &[i8],
    c: &[i32],
    err: &[f32],
    q: super::int8::Int8Query<'_>,
) {
    let groups = q.u.len() / 4;
    let (up, cp, ep, rp) = (q.u.as_ptr(), c.as_ptr(), err.as_ptr(), rows.as_ptr());
    let qn = _mm512_set1_epi32(q.qn);
    let (step, qerr) = (_mm512_set1_ps(q.step), _mm512_set1_ps(q.err));
    let (zero, shrink) = (_mm512_setzero_ps(), _mm512_set1_ps(super::int8::SHRINK));
    for s in 0..bounds.len() / 16 {
        let mut acc = [_mm512_setzero_si512(); 16];
        for g in 0..groups {
            // SAFETY: query group g lies at `4 g .. 4 g + 4` of `u`; slot l of
            // group g of super-block s at `((s groups + g) 16 + l) 64 .. + 64`
            // of `rows` (shapes checked by the caller).
            let qv = _mm512_set1_epi32(unsafe { up.add(4 * g).cast::<i32>().read_unaligned() });
            let at = (s * groups + g) * 16 * 64;
            for (l, a) in acc.iter_mut().enumerate() {
                let r = unsafe { _mm512_loadu_si512(rp.add(at + l * 64).cast()) };
                *a = _mm512_dpbusd_epi32(*a, qv, r);
            }
        }
        let mut least = _mm512_set1_epi32(i32::MAX);
        for (l, &a) in acc.iter().enumerate() {
            // SAFETY: `c` holds 16 values per (s, l) at `(16 s + l) 16`.
            let cv = unsafe { _mm512_loadu_si512(cp.add((s * 16 + l) * 16).cast()) };
            least = _mm512_min_epi32(least, _mm512_sub_epi32(cv, _mm512_add_epi32(a, a)));
        }
        // The body's `bound_of`, lane for lane: max(x, 0) returns 0 for NaN.
        let d = _mm512_cvtepi32_ps(_mm512_add_epi32(least, qn));
        let d = _mm512_mul_ps(_mm512_sqrt_ps(_mm512_max_ps(d, zero)), step);
        // SAFETY: `err` and `bounds` hold 16 values per super-block.
        let e = _mm512_add_ps(qerr, unsafe { _mm512_loadu_ps(ep.add(s * 16)) });
        let lb = _mm512_max_ps(_mm512_sub_ps(d, e), zero);
        let b = _mm512_mul_ps(_mm512_mul_ps(lb, lb), shrink);
        unsafe { _mm512_storeu_ps(bounds.as_mut_ptr().add(s * 16), b) };
    }
}

/// The batch search's int8 block minima with VNNI (`int8_tile`): a tile of
/// 4 queries by 4 blocks, each 64-byte load (4 columns of a block's 16
/// slots) feeding one `vpdpbusd` per query; then per query and block the
/// least of `c - 2 u.v` over the 16 lanes. Exact integers: the body's numbers.
///
/// # Safety
/// AVX-512F and AVX-512 VNNI present; shapes checked by the caller
/// (`Kernels::block_mins_i8`).
#[target_feature(enable = "avx512f,avx512vnni")]
pub unsafe fn block_mins_i8_vnni(mins: &mut [i32], rows: &[i8], c: &[i32], u: &[u8], r: usize) {
    let nb = c.len() / 16;
    let width = u.len().checked_div(r).unwrap_or(0);
    let groups = width / 4;
    let (rp, cp, up) = (rows.as_ptr(), c.as_ptr(), u.as_ptr());
    macro_rules! tile {
        ($r:literal, $b:literal, $q0:expr, $b0:expr) => {{
            let (q0, b0) = ($q0, $b0);
            // SAFETY: q0 + $r <= r and b0 + $b <= nb, so every read lies inside
            // `u`, `rows` and `c`, every write inside `mins`.
            let mut acc: [[__m512i; $b]; $r] = [[_mm512_setzero_si512(); $b]; $r];
            for g in 0..groups {
                let p: [__m512i; $b] = std::array::from_fn(|t| unsafe {
                    _mm512_loadu_si512(rp.add(((b0 + t) * groups + g) * 64).cast())
                });
                for (i, row) in acc.iter_mut().enumerate() {
                    let qv = _mm512_set1_epi32(unsafe {
                        up.add((q0 + i) * width + 4 * g)
                            .cast::<i32>()
                            .read_unaligned()
                    });
                    for (a, &pt) in row.iter_mut().zip(&p) {
                        *a = _mm512_dpbusd_epi32(*a, qv, pt);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (t, &a) in row.iter().enumerate() {
                    let cv = unsafe { _mm512_loadu_si512(cp.add((b0 + t) * 16).cast()) };
                    let v = _mm512_sub_epi32(cv, _mm512_add_epi32(a, a));
                    unsafe {
                        *mins.get_unchecked_mut((q0 + i) * nb + b0 + t) = _mm512_reduce_min_epi32(v)
                    };
                }
            }
        }};
    }
    tile_walk!(tile, r, nb, 4);
}
