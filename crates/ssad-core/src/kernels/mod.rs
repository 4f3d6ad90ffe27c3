//! Dense-layer kernels with runtime CPU dispatch, resolved once per process:
//! AVX-512F, AVX2+FMA, NEON on aarch64, and a scalar fallback, so the shared
//! library runs on any x86-64. Every entry point checks lengths before any
//! unsafe code runs; the SIMD variants are tested against the scalar one.

/// The read-rate yardstick of one SIMD variant (`Kernels::read_peak_gbs`):
/// its loads and adds over 8-register runs, each architecture's intrinsics
/// given by the caller (x86 and NEON expand it).
#[allow(unused_macros)]
macro_rules! read_peak {
    ($name:ident, $feat:literal, $ty:ty, $zero:expr, $load:ident, $add:ident, $lanes:expr) => {
        /// Rate at which one core reads `buf` (in 8-register runs, the rest
        /// ignored) `iterations` times, in GB/s.
        ///
        /// # Safety
        /// The CPU must support the instructions of this variant.
        #[target_feature(enable = $feat)]
        pub unsafe fn $name(buf: &[f32], iterations: u64) -> f64 {
            let run = 8 * $lanes;
            let runs = buf.len() / run;
            let mut acc: [$ty; 8] = [$zero; 8];
            let gbs = super::common::giga_rate(iterations, (runs * run * 4) as u64, || {
                // In registers for the pass, not through the captured array.
                let (p, mut v) = (std::hint::black_box(buf.as_ptr()), acc);
                for r in 0..runs {
                    for (q, a) in v.iter_mut().enumerate() {
                        // SAFETY: (r + 1) run <= buf.len().
                        *a = $add(*a, unsafe { $load(p.add(r * run + q * $lanes)) });
                    }
                }
                acc = v;
            });
            std::hint::black_box(&acc);
            gbs
        }
    };
}

mod common;
mod int8;
mod int8_tile;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;
pub mod yardstick;

use std::sync::OnceLock;

/// `y += a * x` over equal-length slices.
type AxpyFn = unsafe fn(&mut [f32], f32, &[f32]);
/// `y = b + x W` with checked shapes.
type GemvFn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32]);
/// `Y = 1 b + X W` for `m` rows, with checked shapes.
type GemmFn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], usize);
/// `m` rows of `GemvFn` at once, each row bit for bit as `GemvFn` gives it.
type GemvRowsFn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], usize);
/// `out = base + sum of the listed rows` with checked shapes.
type AddRowsFn = unsafe fn(&mut [f32], &[f32], &[f32], &[u16]);
/// Squared distances from `x` to a block of reference rows, with an early exit
/// (checked shapes): the mask of rows within the bound.
type BlockDistFn = unsafe fn(&mut [f32], &[f32], &[f32], f32) -> u32;
/// `BlockDistFn` for two blocks at once (masks in the low and high 16 bits).
type BlockDist2Fn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], f32) -> u32;
/// Per query and block, the least of `norm + q . row` over the block's rows
/// (checked shapes).
type BlockMinsFn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], usize);
/// Per block of int8 rows, a lower bound of the squared distance to the
/// query (checked shapes).
type BlockBoundsI8Fn = unsafe fn(&mut [f32], &[i8], &[i32], &[f32], Int8Query<'_>);
/// Per query of a tile and block of int8 rows, the least `c - 2 u.v` over
/// the block's rows (checked shapes).
type BlockMinsI8Fn = unsafe fn(&mut [i32], &[i8], &[i32], &[u8], usize);

/// The first position of the least value.
type LeastFn = unsafe fn(&[f32]) -> usize;
/// The bit mask of the (at most 64) values not above a cut.
type NotAboveFn = unsafe fn(&[f32], f32) -> u64;
/// `cols[j] += ((r[j] - x[j]) as f64)^2 * w` over equal lengths.
type SqDiffAddFn = unsafe fn(&mut [f64], &[f32], &[f32], f64);

/// `out[i] = min(ln(1 + v[i]), cap)` (0 where `v[i]` is not a finite
/// positive number), over equal-length slices.
type Log1pFn = unsafe fn(&mut [f32], &[f64], f32);

#[cfg(test)]
pub(crate) use common::log1p_capped_one;
use common::sq_diff_add_body;
pub use common::KNN_BLOCK;
pub(crate) use int8::bound_of;
pub use int8::{Int8Query, GROUP_BYTES, LANES as INT8_LANES};
pub use int8_tile::TILE_GROUP_BYTES;

#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    axpy: AxpyFn,
    gemv: GemvFn,
    gemv_rows: GemvRowsFn,
    block_dists: BlockDistFn,
    block_dists2: BlockDist2Fn,
    block_mins: BlockMinsFn,
    block_bounds_i8: BlockBoundsI8Fn,
    block_mins_i8: BlockMinsI8Fn,
    /// Whether `block_mins_i8` beats `block_mins` (integer dot products of 4
    /// bytes in one instruction): the batch search then bounds with it.
    pub int8_tiles: bool,
    gemm: GemmFn,
    add_rows: AddRowsFn,
    log1p_capped: Log1pFn,
    least_at: LeastFn,
    not_above: NotAboveFn,
    sq_diff_add: SqDiffAddFn,
}

static SELECTED: OnceLock<Kernels> = OnceLock::new();

pub(crate) fn scalar_kernels() -> Kernels {
    Kernels {
        name: "scalar",
        axpy: scalar::axpy,
        gemv: scalar::gemv,
        gemv_rows: scalar::gemv_rows,
        block_dists: scalar::block_dists,
        block_dists2: scalar::block_dists2,
        block_mins: scalar::block_mins,
        block_bounds_i8: int8::block_bounds_i8,
        block_mins_i8: int8_tile::block_mins_i8,
        int8_tiles: false,
        gemm: scalar::gemm,
        add_rows: scalar::add_rows,
        log1p_capped: scalar::log1p_capped,
        least_at: scalar::least_at,
        not_above: scalar::not_above,
        sq_diff_add: scalar::sq_diff_add,
    }
}

/// Ask for the cache lines of `len` bytes from `p` (at least the first):
/// a hint that never faults, whatever the address, and does nothing where
/// the target has no such instruction. For reads whose address is known
/// well before the data is needed (a hash table's next probe, a heap page's
/// next tuple).
#[inline(always)]
pub fn prefetch(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..len.max(1)).step_by(64) {
        // SAFETY: a prefetch reads nothing architecturally and never
        // faults; SSE is part of every x86_64 target.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// Test data for the int8 kernels: extreme bytes among random ones.
#[cfg(test)]
pub(crate) mod int8_test_data {
    use crate::rng::Rng;

    /// `n` reference bytes: 127 and -127 at every `period`-th pair of
    /// places, the rest uniform in -127..=127.
    pub fn rows(rng: &mut Rng, n: usize, period: usize) -> Vec<i8> {
        (0..n)
            .map(|i| match i % period {
                0 => 127,
                1 => -127,
                _ => (rng.below(255) as i32 - 127) as i8,
            })
            .collect()
    }

    /// `n` query bytes: 255 every fifth, the rest uniform.
    pub fn query(rng: &mut Rng, n: usize) -> Vec<u8> {
        (0..n)
            .map(|t| {
                if t % 5 == 0 {
                    255
                } else {
                    rng.below(256) as u8
                }
            })
            .collect()
    }
}

/// Every variant this CPU can run (scalar first): for tests and benchmarks.
pub fn available() -> Vec<Kernels> {
    let mut v = vec![scalar_kernels()];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            v.push(Kernels {
                name: "avx2+fma",
                axpy: x86::axpy_avx2,
                gemv: x86::gemv_avx2,
                gemv_rows: x86::gemv_rows_avx2,
                block_dists: x86::block_dists_avx2,
                block_dists2: x86::block_dists2_avx2,
                block_mins: x86::block_mins_avx2,
                block_bounds_i8: x86::block_bounds_i8_avx2,
                block_mins_i8: int8_tile::block_mins_i8,
                int8_tiles: false,
                gemm: x86::gemm_avx2,
                add_rows: x86::add_rows_avx2,
                log1p_capped: x86::log1p_capped_avx2,
                least_at: x86::least_at_avx2,
                not_above: x86::not_above_avx2,
                sq_diff_add: x86::sq_diff_add_avx2,
            });
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            let vnni = std::arch::is_x86_feature_detected!("avx512vnni");
            v.push(Kernels {
                name: "avx512f",
                axpy: x86::axpy_avx512,
                gemv: x86::gemv_avx512,
                gemv_rows: x86::gemv_rows_avx512,
                block_dists: x86::block_dists_avx512,
                block_dists2: x86::block_dists2_avx512,
                block_mins: x86::block_mins_avx512,
                // VNNI's 4-byte dot products where present (not every
                // AVX-512 CPU has them), else the AVX2 body.
                block_bounds_i8: if vnni {
                    x86::block_bounds_i8_vnni
                } else {
                    x86::block_bounds_i8_avx2
                },
                block_mins_i8: if vnni {
                    x86::block_mins_i8_vnni
                } else {
                    int8_tile::block_mins_i8
                },
                int8_tiles: vnni,
                gemm: x86::gemm_avx512,
                add_rows: x86::add_rows_avx512,
                log1p_capped: x86::log1p_capped_avx512,
                least_at: x86::least_at_avx512,
                not_above: x86::not_above_avx512,
                sq_diff_add: x86::sq_diff_add_avx512,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push(Kernels {
                name: "neon",
                axpy: neon::axpy,
                gemv: neon::gemv,
                gemv_rows: neon::gemv_rows,
                block_dists: neon::block_dists,
                block_dists2: neon::block_dists2,
                block_mins: neon::block_mins,
                // The portable body, which the compiler vectorises with NEON.
                block_bounds_i8: int8::block_bounds_i8,
                block_mins_i8: int8_tile::block_mins_i8,
                int8_tiles: false,
                gemm: neon::gemm,
                add_rows: neon::add_rows,
                // The scalar body, which the compiler vectorises with NEON
                // (NEON is part of the aarch64 baseline).
                log1p_capped: scalar::log1p_capped,
                least_at: scalar::least_at,
                not_above: scalar::not_above,
                sq_diff_add: scalar::sq_diff_add,
            });
        }
    }
    v
}

/// The best variant for this CPU, chosen on first use.
pub fn selected() -> Kernels {
    *SELECTED.get_or_init(|| available().pop().unwrap_or_else(scalar_kernels))
}

/// Panics (a bug, never user input) unless `Y = 1 b + X W` is shaped for
/// `m` rows: `y` m x n, `x` m x k, `w` k x n with `n = b.len()`.
fn check_product(name: &str, y: &[f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
    let n = b.len();
    assert_eq!(y.len(), m * n, "{name} output shape");
    let k = x.len().checked_div(m).unwrap_or(0);
    assert_eq!(x.len(), m * k, "{name} input shape");
    assert_eq!(w.len(), k * n, "{name} weight shape");
}

impl Kernels {
    /// `out[i] = log1p_capped_one(v[i], cap)`. Panics (a bug, never user
    /// input) if the lengths differ.
    #[inline]
    pub fn log1p_capped(&self, out: &mut [f32], v: &[f64], cap: f32) {
        assert_eq!(out.len(), v.len(), "log1p length mismatch");
        // SAFETY: lengths are equal; the variant matches the CPU.
        unsafe { (self.log1p_capped)(out, v, cap) }
    }

    /// The first position of the least value of `v`: NaN is never the
    /// least; 0 when `v` holds no number (or is empty).
    #[inline]
    pub fn least_at(&self, v: &[f32]) -> usize {
        // SAFETY: any length; the variant matches the CPU.
        unsafe { (self.least_at)(v) }
    }

    /// Bit i set where `v[i] <= cut` or `v[i]` is NaN (a bound that rules
    /// nothing out). Panics (a bug, never user input) past 64 values.
    #[inline]
    pub fn not_above(&self, v: &[f32], cut: f32) -> u64 {
        assert!(v.len() <= 64, "not_above takes at most 64 values");
        // SAFETY: at most 64 values; the variant matches the CPU.
        unsafe { (self.not_above)(v, cut) }
    }

    /// `cols[j] += ((r[j] - x[j]) as f64)^2 * w`: the same IEEE operations in
    /// every variant (no fused multiply-add), so the same bits. Fewer than 8
    /// values run inline (http's 3 columns scored no faster through the
    /// call). Panics (a bug, never user input) if the lengths differ.
    #[inline]
    pub fn sq_diff_add(&self, cols: &mut [f64], r: &[f32], x: &[f32], w: f64) {
        assert!(
            cols.len() == r.len() && r.len() == x.len(),
            "sq_diff_add length mismatch"
        );
        if cols.len() < 8 {
            return sq_diff_add_body(cols, r, x, w);
        }
        // SAFETY: lengths checked; the variant matches the CPU.
        unsafe { (self.sq_diff_add)(cols, r, x, w) }
    }

    /// `y += a * x`. Panics (a bug, never user input) if the lengths differ.
    #[inline]
    pub fn axpy(&self, y: &mut [f32], a: f32, x: &[f32]) {
        assert_eq!(y.len(), x.len(), "axpy length mismatch");
        // SAFETY: lengths are equal (checked above) and the variant was
        // selected only if the CPU supports its instructions.
        unsafe { (self.axpy)(y, a, x) }
    }

    /// `y = b + x W` for row-major `W` (`x.len()` rows of `y.len()`),
    /// skipping zero inputs (hidden columns, one-hot zeros).
    #[inline]
    pub fn gemv(&self, y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
        let n = y.len();
        assert_eq!(b.len(), n, "gemv bias length");
        assert_eq!(w.len(), x.len() * n, "gemv weight shape");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.gemv)(y, b, w, x) }
    }

    /// `gemv` for `m` rows of `x` at once (`m x k` into `m x n`): each row of
    /// `y` bit for bit what `gemv` gives its row, so batch and one-row scores
    /// agree; AVX-512 shares each weight load between two rows.
    #[inline]
    pub fn gemv_rows(&self, y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
        check_product("gemv_rows", y, b, w, x, m);
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.gemv_rows)(y, b, w, x, m) }
    }

    /// `Y = 1 b + X W` for row-major `X` (`m x k`), `W` (`k x n`) and `Y`
    /// (`m x n`), `n = b.len()`: register-blocked, for several rows at once.
    #[inline]
    pub fn gemm(&self, y: &mut [f32], b: &[f32], w: &[f32], x: &[f32], m: usize) {
        check_product("gemm", y, b, w, x, m);
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.gemm)(y, b, w, x, m) }
    }

    /// `out = base + sum_{j in idx} rows[j]` where `rows` holds rows of
    /// `out.len()` values: a masked first layer from per-column corrections.
    #[inline]
    pub fn add_rows(&self, out: &mut [f32], base: &[f32], rows: &[f32], idx: &[u16]) {
        let h = out.len();
        assert_eq!(base.len(), h, "add_rows base length");
        assert!(
            idx.iter().all(|&j| (j as usize + 1) * h <= rows.len()),
            "add_rows index out of range"
        );
        // SAFETY: every listed row lies inside `rows` (checked above).
        unsafe { (self.add_rows)(out, base, rows, idx) }
    }

    /// Squared distances from `x` to the `KNN_BLOCK` reference rows of
    /// `block` (dimension-major: value j of row l at `j * KNN_BLOCK + l`) into
    /// `out`, and the mask of rows within `bound`. Every four dimensions the
    /// partial sums are checked: when none is within the bound, the block
    /// cannot hold a neighbour and the scan stops early (mask 0, `out` partial).
    /// Partial sums never decrease, so the exit loses no row within the bound.
    #[inline]
    pub fn block_dists(&self, out: &mut [f32], block: &[f32], x: &[f32], bound: f32) -> u32 {
        assert_eq!(out.len(), KNN_BLOCK, "block_dists output length");
        assert_eq!(block.len(), KNN_BLOCK * x.len(), "block_dists block shape");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.block_dists)(out, block, x, bound) }
    }
    /// `block_dists` of blocks `a` and `b` at once, into `out[..16]` and
    /// `out[16..]`, with their masks in the low and high 16 bits: the same
    /// distances lane for lane (where a row is within the bound), in one call.
    #[inline]
    pub fn block_dists2(
        &self,
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        x: &[f32],
        bound: f32,
    ) -> u32 {
        assert_eq!(out.len(), 2 * KNN_BLOCK, "block_dists2 output length");
        assert_eq!(a.len(), KNN_BLOCK * x.len(), "block_dists2 block shape");
        assert_eq!(b.len(), a.len(), "block_dists2 block shape");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.block_dists2)(out, a, b, x, bound) }
    }

    /// For each of the `r` queries in `q` (row-major, `m` values each) and
    /// every block of `KNN_BLOCK` rows (laid out as for `block_dists`), the
    /// least of `norms[slot] + q . row` over the block's rows, into `mins`
    /// (`r x blocks`). With `q = -2x` and `norms` the rows' squared norms this
    /// is the block's least squared distance to `x` minus `|x|^2`, up to
    /// rounding: one multiply-add per value, and several queries share each
    /// load of the reference.
    #[inline]
    pub fn block_mins(&self, mins: &mut [f32], blocks: &[f32], norms: &[f32], q: &[f32], r: usize) {
        let nb = norms.len() / KNN_BLOCK;
        assert_eq!(norms.len(), nb * KNN_BLOCK, "block_mins norms length");
        assert_eq!(mins.len(), r * nb, "block_mins output length");
        let m = q.len().checked_div(r).unwrap_or(0);
        assert_eq!(q.len(), r * m, "block_mins query shape");
        assert_eq!(blocks.len(), nb * KNN_BLOCK * m, "block_mins blocks shape");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.block_mins)(mins, blocks, norms, q, r) }
    }

    /// Per query i of a tile of `r` and block b of int8 rows, the least
    /// `c - 2 u.v` over the block's slots into `mins[i * blocks + b]`: see
    /// `int8_tile::block_mins_i8_body` for the layout. Exact integer sums:
    /// the same numbers in every variant. The caller keeps the sums within
    /// i32 (at most 4096 columns).
    #[inline]
    pub fn block_mins_i8(&self, mins: &mut [i32], rows: &[i8], c: &[i32], u: &[u8], r: usize) {
        let nb = c.len() / KNN_BLOCK;
        assert_eq!(c.len(), nb * KNN_BLOCK, "block_mins_i8 c length");
        let width = u.len().checked_div(r).unwrap_or(0);
        assert!(
            u.len() == r * width && width.is_multiple_of(4),
            "block_mins_i8 query shape"
        );
        assert_eq!(
            rows.len(),
            nb * (width / 4) * TILE_GROUP_BYTES,
            "block_mins_i8 rows shape"
        );
        assert_eq!(mins.len(), r * nb, "block_mins_i8 output length");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.block_mins_i8)(mins, rows, c, u, r) }
    }

    /// Lower bounds of the squared distance from an int8 query to every
    /// block of int8 rows, into `bounds` (one per block, in super-blocks of
    /// `INT8_LANES`): see `int8::block_bounds_i8_body` for the layout and
    /// the formula. Integer dot products, then the same f32 operations in
    /// every variant: the same bits. The caller keeps the sums within i32
    /// (at most 4096 columns).
    #[inline]
    pub fn block_bounds_i8(
        &self,
        bounds: &mut [f32],
        rows: &[i8],
        c: &[i32],
        err: &[f32],
        q: Int8Query<'_>,
    ) {
        let nsb = bounds.len() / INT8_LANES;
        assert_eq!(
            bounds.len(),
            nsb * INT8_LANES,
            "block_bounds_i8 bounds length"
        );
        assert_eq!(q.u.len() % 4, 0, "block_bounds_i8 query length");
        assert_eq!(err.len(), bounds.len(), "block_bounds_i8 err length");
        assert_eq!(
            c.len(),
            bounds.len() * KNN_BLOCK,
            "block_bounds_i8 c length"
        );
        assert_eq!(
            rows.len(),
            bounds.len() * KNN_BLOCK * q.u.len(),
            "block_bounds_i8 rows shape"
        );
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.block_bounds_i8)(bounds, rows, c, err, q) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed relative difference between a SIMD variant and the scalar
    /// reference: the summation order differs, nothing else.
    const REL_TOL: f32 = 1e-5;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_variant_matches_scalar_across_tail_lengths() {
        let reference = scalar_kernels();
        for k in available() {
            // Lengths crossing every tail: below, at and above 4, 8, 16, 32, 64 lanes.
            for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
                let a = data(n, 1);
                let (mut y1, mut y2) = (data(n, 3), data(n, 3));
                k.axpy(&mut y1, 0.37, &a);
                reference.axpy(&mut y2, 0.37, &a);
                for (u, v) in y1.iter().zip(&y2) {
                    assert!(
                        (u - v).abs() <= REL_TOL * (1.0 + v.abs()),
                        "{} axpy n={n}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn gemv_matches_naive_for_every_variant_and_shape() {
        for k in available() {
            for (n_in, n_out) in [
                (1, 1),
                (3, 7),
                (13, 37),
                (5, 64),
                (9, 65),
                (42, 128),
                (4, 130),
                (2, 200),
                (48, 64),
                (64, 32),
                (32, 1),
                (3, 1),
                (7, 17),
                (10, 31),
            ] {
                gemv_case(k, n_in, n_out);
            }
        }
    }

    fn gemv_case(k: Kernels, n_in: usize, n_out: usize) {
        let w = data(n_in * n_out, 5);
        let mut x = data(n_in, 9);
        if n_in > 3 {
            x[3] = 0.0; // a hidden input is skipped
        }
        let b = data(n_out, 11);
        let mut y = vec![0.0; n_out];
        k.gemv(&mut y, &b, &w, &x);
        for o in 0..n_out {
            let naive: f32 = b[o] + (0..n_in).map(|i| x[i] * w[i * n_out + o]).sum::<f32>();
            assert!(
                (y[o] - naive).abs() < 1e-4 * (1.0 + naive.abs()),
                "{} {n_in}x{n_out} [{o}]",
                k.name
            );
        }
    }

    #[test]
    fn gemv_rows_match_gemv_bit_for_bit() {
        // Output widths across the narrow (<= 32), wide (64-blocks) and tail
        // paths; inputs with zeros (skipped by gemv), a negative zero bias
        // and odd input counts (the phase tails).
        for kern in available() {
            for n in [1usize, 7, 16, 17, 32, 33, 48, 64, 65, 100, 128, 130] {
                for k in [1usize, 2, 3, 5, 8, 13, 48] {
                    let w = data(k * n, 3);
                    let mut b = data(n, 4);
                    b[0] = -0.0;
                    for m in 1..=5 {
                        let mut x = data(m * k, 7 + m as u32);
                        for (i, v) in x.iter_mut().enumerate() {
                            if i % 3 == 1 {
                                *v = if i % 2 == 0 { 0.0 } else { -0.0 };
                            }
                        }
                        let mut y = vec![f32::NAN; m * n];
                        kern.gemv_rows(&mut y, &b, &w, &x, m);
                        for r in 0..m {
                            let mut one = vec![0.0; n];
                            kern.gemv(&mut one, &b, &w, &x[r * k..(r + 1) * k]);
                            let bits =
                                |v: &[f32]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
                            assert_eq!(
                                bits(&y[r * n..(r + 1) * n]),
                                bits(&one),
                                "{} n={n} k={k} m={m} row {r}",
                                kern.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "gemv_rows weight shape")]
    fn misshaped_gemv_rows_never_reach_unsafe_code() {
        selected().gemv_rows(&mut [0.0; 4], &[0.0; 2], &[0.0; 5], &[0.0; 4], 2);
    }

    #[test]
    fn gemm_matches_naive_for_every_variant_and_shape() {
        for kern in available() {
            for (m, k, n) in [
                (1, 1, 1),
                (1, 5, 7),
                (2, 13, 16),
                (3, 8, 17),
                (4, 128, 64),
                (5, 42, 65),
                (7, 9, 130),
                (16, 128, 64),
                (16, 64, 16),
                (9, 3, 200),
            ] {
                let w = data(k * n, 5);
                let mut x = data(m * k, 9);
                if x.len() > 3 {
                    x[3] = 0.0;
                }
                let b = data(n, 11);
                let mut y = vec![f32::NAN; m * n];
                kern.gemm(&mut y, &b, &w, &x, m);
                for r in 0..m {
                    for o in 0..n {
                        let naive: f32 =
                            b[o] + (0..k).map(|i| x[r * k + i] * w[i * n + o]).sum::<f32>();
                        let got = y[r * n + o];
                        assert!(
                            (got - naive).abs() < 1e-4 * (1.0 + naive.abs()),
                            "{} {m}x{k}x{n} [{r},{o}]: {got} vs {naive}",
                            kern.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "gemm weight shape")]
    fn misshaped_gemm_never_reaches_unsafe_code() {
        selected().gemm(&mut [0.0; 4], &[0.0; 2], &[0.0; 5], &[0.0; 6], 2);
    }

    #[test]
    fn add_rows_matches_naive_for_every_variant() {
        for kern in available() {
            for h in [1, 7, 8, 15, 16, 17, 33, 64, 128, 130] {
                let rows = data(5 * h, 21);
                let base = data(h, 23);
                for idx in [&[][..], &[2], &[0, 4], &[4, 1, 3, 0]] {
                    let mut out = vec![f32::NAN; h];
                    kern.add_rows(&mut out, &base, &rows, idx);
                    for i in 0..h {
                        let naive =
                            base[i] + idx.iter().map(|&j| rows[j as usize * h + i]).sum::<f32>();
                        assert!((out[i] - naive).abs() < 1e-5, "{} h={h} {idx:?}", kern.name);
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "add_rows index out of range")]
    fn out_of_range_row_never_reaches_unsafe_code() {
        selected().add_rows(&mut [0.0; 4], &[0.0; 4], &[0.0; 8], &[2]);
    }

    /// Scalar squared distances of a block, for the tests.
    fn naive_block(block: &[f32], x: &[f32]) -> Vec<f32> {
        (0..KNN_BLOCK)
            .map(|l| {
                x.iter()
                    .enumerate()
                    .map(|(j, &v)| (block[j * KNN_BLOCK + l] - v).powi(2))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn block_dists_match_naive_for_every_variant() {
        for k in available() {
            for d in [0usize, 1, 3, 4, 5, 7, 8, 16, 39, 100] {
                let block = data(KNN_BLOCK * d, 13);
                let x = data(d, 17);
                let naive = naive_block(&block, &x);
                let mut out = vec![f32::NAN; KNN_BLOCK];
                // No bound: every row is reported, with its full distance.
                let mask = k.block_dists(&mut out, &block, &x, f32::INFINITY);
                assert_eq!(mask, 0xffff, "{} d={d}", k.name);
                for (l, (&o, &n)) in out.iter().zip(&naive).enumerate() {
                    assert!(
                        (o - n).abs() <= REL_TOL * (1.0 + n),
                        "{} d={d} [{l}]: {o} vs {n}",
                        k.name
                    );
                }
                // A bound between the rows: exactly the rows within it (away
                // from rounding), or none when the scan stopped early.
                let mut sorted = naive.clone();
                sorted.sort_by(f32::total_cmp);
                for cut in [0usize, 3, 8, 14] {
                    let (below, above) = (sorted[cut], sorted[cut + 1]);
                    if above - below <= 4.0 * REL_TOL * (1.0 + above) {
                        continue; // a near tie: rounding may take either side
                    }
                    let bound = (below + above) / 2.0;
                    let mask = k.block_dists(&mut out, &block, &x, bound);
                    let want = naive
                        .iter()
                        .enumerate()
                        .filter(|(_, &n)| n <= bound)
                        .fold(0u32, |m, (l, _)| m | 1 << l);
                    assert_eq!(mask, want, "{} d={d} cut={cut}", k.name);
                }
            }
        }
    }

    #[test]
    fn block_dists_stop_early_only_when_no_row_can_qualify() {
        for k in available() {
            // Row 5 is the query itself; every other row is far in the first dimension.
            let d = 12;
            let x = data(d, 3);
            let mut block = vec![0.0f32; KNN_BLOCK * d];
            for j in 0..d {
                for l in 0..KNN_BLOCK {
                    let far = if j == 0 && l != 5 { 100.0 } else { 0.0 };
                    block[j * KNN_BLOCK + l] = x[j] + far;
                }
            }
            let mut out = vec![0.0; KNN_BLOCK];
            assert_eq!(
                k.block_dists(&mut out, &block, &x, 1.0),
                1 << 5,
                "{}",
                k.name
            );
            assert_eq!(out[5], 0.0, "{}", k.name);
            // Without row 5 nothing is within the bound: the scan stops after
            // the first check, with the first four dimensions' partial sums.
            for j in 0..d {
                block[j * KNN_BLOCK + 5] += if j == 0 { 100.0 } else { 0.0 };
            }
            assert_eq!(k.block_dists(&mut out, &block, &x, 1.0), 0, "{}", k.name);
            assert!(out.iter().all(|&o| o >= 1.0e4), "{} {out:?}", k.name);
            // NaN rows are never within a bound.
            let nan = vec![f32::NAN; KNN_BLOCK * d];
            assert_eq!(
                k.block_dists(&mut out, &nan, &x, f32::INFINITY),
                0,
                "{}",
                k.name
            );
        }
    }

    #[test]
    fn block_mins_match_naive_for_every_variant_and_shape() {
        // Query and block counts crossing every tile (4 and 2 queries, 4 and
        // 2 blocks) and their tails; widths including 1.
        for k in available() {
            for nb in [1usize, 2, 3, 4, 5, 7, 9, 64] {
                for m in [1usize, 2, 5, 16, 39] {
                    for r in [1usize, 2, 3, 5, 8] {
                        let blocks = data(nb * KNN_BLOCK * m, (nb * 31 + m) as u32);
                        let norms: Vec<f32> =
                            data(nb * KNN_BLOCK, 5).iter().map(|v| v + 2.0).collect();
                        let q = data(r * m, 9 + r as u32);
                        let mut mins = vec![0.0; r * nb];
                        k.block_mins(&mut mins, &blocks, &norms, &q, r);
                        for (i, qi) in q.chunks_exact(m).enumerate() {
                            for b in 0..nb {
                                let (want, scale) = (0..KNN_BLOCK)
                                    .map(|l| {
                                        let mut v = norms[b * KNN_BLOCK + l] as f64;
                                        let mut a = v.abs();
                                        for (j, &qj) in qi.iter().enumerate() {
                                            let t = qj as f64
                                                * blocks[(b * m + j) * KNN_BLOCK + l] as f64;
                                            v += t;
                                            a += t.abs();
                                        }
                                        (v, a)
                                    })
                                    .fold((f64::INFINITY, 0.0f64), |(w, s), (v, a)| {
                                        (w.min(v), s.max(a))
                                    });
                                let got = mins[i * nb + b] as f64;
                                assert!(
                                    (got - want).abs() <= REL_TOL as f64 * (1.0 + scale),
                                    "{} nb={nb} m={m} r={r} query {i} block {b}: {got} vs {want}",
                                    k.name
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "block_mins blocks shape")]
    fn misshaped_mins_never_reach_unsafe_code() {
        selected().block_mins(
            &mut [0.0; 2],
            &[0.0; 60],
            &[0.0; 2 * KNN_BLOCK],
            &[0.0; 2],
            1,
        );
    }

    #[test]
    fn block_dists2_matches_two_single_calls_bit_for_bit() {
        for k in available() {
            for d in [1usize, 3, 4, 5, 8, 16, 17, 39] {
                let (a, b, x) = (data(KNN_BLOCK * d, 3), data(KNN_BLOCK * d, 8), data(d, 4));
                for bound in [f32::INFINITY, 0.0, 0.5 * d as f32, d as f32] {
                    let mut pair = vec![0.0; 2 * KNN_BLOCK];
                    let (mut oa, mut ob) = (vec![0.0; KNN_BLOCK], vec![0.0; KNN_BLOCK]);
                    let mask = k.block_dists2(&mut pair, &a, &b, &x, bound);
                    let ma = k.block_dists(&mut oa, &a, &x, bound);
                    let mb = k.block_dists(&mut ob, &b, &x, bound);
                    assert_eq!(mask, ma | mb << 16, "{} d={d} bound={bound}", k.name);
                    for l in 0..KNN_BLOCK {
                        if ma >> l & 1 == 1 {
                            assert_eq!(pair[l].to_bits(), oa[l].to_bits(), "{} d={d}", k.name);
                        }
                        if mb >> l & 1 == 1 {
                            assert_eq!(pair[16 + l].to_bits(), ob[l].to_bits(), "{} d={d}", k.name);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn least_at_is_the_first_least_for_every_variant() {
        for k in available() {
            for n in [0usize, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 70] {
                let v: Vec<f32> = data(n, 7).iter().map(|x| (x * 4.0).round()).collect();
                // SAFETY: the scalar reference needs nothing.
                let want = unsafe { scalar::least_at(&v) };
                assert_eq!(k.least_at(&v), want, "{} n={n} {v:?}", k.name);
                if n > 0 {
                    assert!(v.iter().all(|&x| x >= v[want]), "{} n={n}", k.name);
                }
                // NaN is never the least; all NaN or infinite gives a valid position.
                let mut w = v.clone();
                for i in (0..n).step_by(3) {
                    w[i] = f32::NAN;
                }
                let at = k.least_at(&w);
                assert!(n == 0 || at < n, "{} n={n}", k.name);
                if w.iter().any(|x| !x.is_nan()) {
                    assert!(!w[at].is_nan(), "{} n={n}", k.name);
                    assert!(
                        w.iter().all(|&x| x.is_nan() || x >= w[at]),
                        "{} n={n}",
                        k.name
                    );
                    // SAFETY: as above.
                    assert_eq!(at, unsafe { scalar::least_at(&w) }, "{} n={n}", k.name);
                }
                assert!(k.least_at(&vec![f32::NAN; n]) < n.max(1), "{}", k.name);
                assert_eq!(k.least_at(&vec![f32::INFINITY; n]), 0, "{}", k.name);
            }
        }
    }

    #[test]
    fn not_above_and_sq_diff_add_match_scalar_for_every_variant() {
        for k in available() {
            for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 33, 63, 64] {
                let mut v = data(n, 3);
                if n > 4 {
                    v[4] = f32::NAN;
                }
                for cut in [-2.0f32, -0.25, 0.0, 0.5, 2.0, f32::INFINITY, f32::NAN] {
                    // SAFETY: the scalar reference needs nothing.
                    let want = unsafe { scalar::not_above(&v, cut) };
                    assert_eq!(k.not_above(&v, cut), want, "{} n={n} cut={cut}", k.name);
                    if !cut.is_nan() {
                        let naive = v.iter().enumerate().fold(0u64, |m, (i, &x)| {
                            m | (u64::from(x <= cut || x.is_nan()) << i)
                        });
                        assert_eq!(want, naive, "n={n} cut={cut}");
                    }
                }
                let (r, x) = (data(n, 5), data(n, 9));
                let mut want = vec![0.5f64; n];
                let mut got = want.clone();
                // SAFETY: as above.
                unsafe { scalar::sq_diff_add(&mut want, &r, &x, 0.3) };
                k.sq_diff_add(&mut got, &r, &x, 0.3);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{} n={n}", k.name);
            }
        }
    }

    #[test]
    #[should_panic]
    fn too_many_bounds_never_reach_unsafe_code() {
        selected().not_above(&[0.0; 65], 1.0);
    }

    #[test]
    fn log1p_variants_match_scalar_bit_for_bit() {
        let specials = [
            0.0,
            -0.0,
            -2.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            1e-9,
            0.414,
            std::f64::consts::SQRT_2 - 1.0,
            1.0,
            7.5,
            1e12,
            1e300,
        ];
        let mut rng = crate::rng::Rng::new(11);
        for n in 0..=37 {
            let v: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        specials[(i / 3) % specials.len()]
                    } else {
                        (rng.normal() * 4.0).exp() - 0.5
                    }
                })
                .collect();
            let mut want = vec![0.0f32; n];
            scalar_kernels().log1p_capped(&mut want, &v, 30.0);
            for (x, w) in v.iter().zip(&want) {
                let libm = if x.is_finite() && *x > 0.0 {
                    x.ln_1p().min(30.0)
                } else {
                    0.0
                };
                assert!(
                    (*w as f64 - libm).abs() <= 1e-6 * libm.max(1e-3),
                    "{x}: {w}"
                );
            }
            for k in available() {
                let mut got = vec![1.0f32; n];
                k.log1p_capped(&mut got, &v, 30.0);
                let bits = |u: &[f32]| u.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{} n={n}", k.name);
            }
        }
    }

    #[test]
    #[should_panic(expected = "log1p length mismatch")]
    fn misshaped_log1p_never_reaches_unsafe_code() {
        selected().log1p_capped(&mut [0.0; 3], &[1.0; 4], 30.0);
    }

    #[test]
    #[should_panic(expected = "block_dists block shape")]
    fn misshaped_block_never_reaches_unsafe_code() {
        selected().block_dists(&mut [0.0; KNN_BLOCK], &[0.0; 6], &[0.0; 2], 1.0);
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn mismatched_lengths_never_reach_unsafe_code() {
        selected().axpy(&mut [1.0, 2.0], 1.0, &[1.0]);
    }
}
