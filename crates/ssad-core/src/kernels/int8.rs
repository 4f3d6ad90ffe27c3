//! The int8 bound kernel of the one-row kNN search: lower bounds of the
//! squared distance from a query to every block of reference rows, from int8
//! copies of both, in integer dot products. The layout puts 16 blocks side
//! by side in the lanes, so a block's least over its rows is a vertical min
//! (no horizontal reduction per block). `knn.rs` builds the copies and checks
//! that the bounds are conservative.

use super::common::KNN_BLOCK;

/// Blocks side by side in one group (one lane each).
pub const LANES: usize = 16;
/// Bytes of one group: 4 columns of one slot of `LANES` blocks.
pub const GROUP_BYTES: usize = 4 * LANES;
/// Applied to the squared bound: covers its last two f32 roundings.
pub(crate) const SHRINK: f32 = 1.0 - 1e-6;

/// The query side of `block_bounds_i8`.
#[derive(Clone, Copy, Debug)]
pub struct Int8Query<'a> {
    /// Query bytes, `q + 128` per column, in groups of 4.
    pub u: &'a [u8],
    /// `|q|^2` in steps.
    pub qn: i32,
    /// Size of one step, rounded down.
    pub step: f32,
    /// The query's distance from its int8 copy, rounded up.
    pub err: f32,
}

/// For super-block s (blocks `16 s .. 16 s + 16`), group g (columns `4 g ..
/// 4 g + 4`), slot l and lane b, the 4 bytes lie at `(((s * groups + g) *
/// 16 + l) * 16 + b) * 4`; `c` holds `|v|^2 + 256 sum v` per (s, l, b) at
/// `(s * 16 + l) * 16 + b`. With `m = min_l c - 2 u.v` (the least squared
/// int8 distance minus `|q|^2`):
/// `bound = max(0, sqrt(max(0, m + qn)) step - (err + err_b))^2 SHRINK`.
/// Every variant runs these f32 operations in this order: the same bits.
#[inline(always)]
pub(crate) fn block_bounds_i8_body(
    bounds: &mut [f32],
    rows: &[i8],
    c: &[i32],
    err: &[f32],
    q: Int8Query<'_>,
) {
    let groups = q.u.len() / 4;
    let per_sb = groups * KNN_BLOCK * GROUP_BYTES;
    for (s, out) in bounds.chunks_exact_mut(LANES).enumerate() {
        let mut least = [i32::MAX; LANES];
        for l in 0..KNN_BLOCK {
            let mut acc = [0i32; LANES];
            for (g, qg) in q.u.chunks_exact(4).enumerate() {
                let at = s * per_sb + (g * KNN_BLOCK + l) * GROUP_BYTES;
                for (a, r) in acc
                    .iter_mut()
                    .zip(rows[at..at + GROUP_BYTES].chunks_exact(4))
                {
                    for (&qt, &rt) in qg.iter().zip(r) {
                        *a = a.wrapping_add(i32::from(qt).wrapping_mul(i32::from(rt)));
                    }
                }
            }
            let cl = &c[(s * KNN_BLOCK + l) * LANES..(s * KNN_BLOCK + l + 1) * LANES];
            for ((m, &a), &cc) in least.iter_mut().zip(&acc).zip(cl) {
                *m = (*m).min(cc.wrapping_sub(a.wrapping_add(a)));
            }
        }
        for ((o, &m), &e) in out.iter_mut().zip(&least).zip(&err[s * LANES..]) {
            *o = bound_of(m, e, q);
        }
    }
}

/// One lane's bound from its least `c - 2 u.v` (the body's last step).
#[inline(always)]
pub(crate) fn bound_of(m: i32, err: f32, q: Int8Query<'_>) -> f32 {
    let d = (m.wrapping_add(q.qn) as f32).max(0.0).sqrt() * q.step;
    let lb = (d - (q.err + err)).max(0.0);
    lb * lb * SHRINK
}

/// # Safety
/// None beyond the shapes, which the caller checked.
pub unsafe fn block_bounds_i8(
    bounds: &mut [f32],
    rows: &[i8],
    c: &[i32],
    err: &[f32],
    q: Int8Query<'_>,
) {
    block_bounds_i8_body(bounds, rows, c, err, q)
}

#[cfg(test)]
mod tests {
    use super::super::{available, int8_test_data, selected};
    use super::*;

    /// Every variant gives the naive result bit for bit, over group counts,
    /// extreme bytes, several super-blocks, and a query that is not all numbers.
    #[test]
    fn int8_bounds_match_naive_for_every_variant() {
        let mut rng = crate::rng::Rng::new(21);
        for kern in available() {
            for groups in [1usize, 2, 3, 4, 5, 10, 17] {
                for nsb in [1usize, 2, 3] {
                    let rows =
                        int8_test_data::rows(&mut rng, nsb * groups * KNN_BLOCK * GROUP_BYTES, 11);
                    let c: Vec<i32> = (0..nsb * KNN_BLOCK * LANES)
                        .map(|_| rng.below(1 << 22) as i32)
                        .collect();
                    let err: Vec<f32> = (0..nsb * LANES).map(|_| rng.next_f64() as f32).collect();
                    let u = int8_test_data::query(&mut rng, 4 * groups);
                    for qerr in [0.25f32, f32::NAN] {
                        let q = Int8Query {
                            u: &u,
                            qn: 3000,
                            step: 0.01,
                            err: qerr,
                        };
                        let mut got = vec![0.0f32; nsb * LANES];
                        kern.block_bounds_i8(&mut got, &rows, &c, &err, q);
                        for (b, &g) in got.iter().enumerate() {
                            let (s, lane) = (b / LANES, b % LANES);
                            let least = (0..KNN_BLOCK)
                                .map(|l| {
                                    let dot: i64 = (0..4 * groups)
                                        .map(|t| {
                                            let at = (((s * groups + t / 4) * KNN_BLOCK + l)
                                                * LANES
                                                + lane)
                                                * 4
                                                + t % 4;
                                            i64::from(u[t]) * i64::from(rows[at])
                                        })
                                        .sum();
                                    i64::from(c[(s * KNN_BLOCK + l) * LANES + lane]) - 2 * dot
                                })
                                .min()
                                .unwrap_or(i64::MAX);
                            let want = bound_of(least as i32, err[b], q);
                            assert_eq!(
                                g.to_bits(),
                                want.to_bits(),
                                "{} groups={groups} b={b} err={qerr}",
                                kern.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "block_bounds_i8 rows shape")]
    fn misshaped_int8_rows_never_reach_unsafe_code() {
        let q = Int8Query {
            u: &[0; 4],
            qn: 0,
            step: 1.0,
            err: 0.0,
        };
        selected().block_bounds_i8(&mut [0.0; 16], &[0; 64], &[0; 256], &[0.0; 16], q);
    }
}
