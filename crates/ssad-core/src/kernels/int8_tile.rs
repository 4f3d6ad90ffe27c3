//! The int8 bound kernel of the batch kNN search: for a tile of queries and
//! every block of reference rows, the least `c - 2 u.v` over the block's
//! slots, in integer dot products (the int8 counterpart of `block_mins`).
//! The layout puts a block's 16 slots side by side in the lanes, 4 columns a
//! lane, so one VNNI instruction adds 4 columns of 16 rows for one query,
//! and each load of the reference serves several queries. Integer sums are
//! exact: every variant gives the same numbers.

use super::common::KNN_BLOCK;

/// Bytes of one block's group: 4 columns of its `KNN_BLOCK` slots.
pub const TILE_GROUP_BYTES: usize = 4 * KNN_BLOCK;

/// For block b, group g (columns `4 g .. 4 g + 4`) and slot l, the 4 bytes
/// lie at `((b * groups + g) * 16 + l) * 4`; `c` holds `|v|^2 + 256 sum v`
/// per slot at `b * 16 + l`; query i's bytes (`q + 128`) at `u[i * 4 *
/// groups ..]`. Into `mins[i * blocks + b]`: the least over block b's slots
/// of `c - 2 u.v`, in wrapping i32 arithmetic (the caller keeps the sums
/// within range: at most 4096 columns).
#[inline(always)]
pub(crate) fn block_mins_i8_body(mins: &mut [i32], rows: &[i8], c: &[i32], u: &[u8], r: usize) {
    let nb = c.len() / KNN_BLOCK;
    let width = u.len().checked_div(r).unwrap_or(0);
    let groups = width / 4;
    for (i, q) in u.chunks_exact(width.max(1)).take(r).enumerate() {
        for b in 0..nb {
            let mut least = i32::MAX;
            for l in 0..KNN_BLOCK {
                let mut acc = 0i32;
                for (g, qg) in q.chunks_exact(4).enumerate() {
                    let at = ((b * groups + g) * KNN_BLOCK + l) * 4;
                    for (&qt, &rt) in qg.iter().zip(&rows[at..at + 4]) {
                        acc = acc.wrapping_add(i32::from(qt).wrapping_mul(i32::from(rt)));
                    }
                }
                least = least.min(c[b * KNN_BLOCK + l].wrapping_sub(acc.wrapping_add(acc)));
            }
            mins[i * nb + b] = least;
        }
    }
}

/// # Safety
/// None beyond the shapes, which the caller checked.
pub unsafe fn block_mins_i8(mins: &mut [i32], rows: &[i8], c: &[i32], u: &[u8], r: usize) {
    block_mins_i8_body(mins, rows, c, u, r)
}

#[cfg(test)]
mod tests {
    use super::super::{available, int8_test_data, selected};
    use super::*;

    /// Every variant gives the naive least bit for bit, over query and block
    /// counts crossing the 4 x 4 tile and its tails, group counts, and
    /// extreme bytes.
    #[test]
    fn int8_tile_mins_match_naive_for_every_variant() {
        let mut rng = crate::rng::Rng::new(34);
        for kern in available() {
            for groups in [1usize, 2, 3, 10, 17] {
                for nb in [1usize, 3, 4, 5, 9] {
                    for r in [1usize, 2, 4, 5, 7] {
                        let rows =
                            int8_test_data::rows(&mut rng, nb * groups * TILE_GROUP_BYTES, 13);
                        let c: Vec<i32> = (0..nb * KNN_BLOCK)
                            .map(|i| {
                                if i % 7 == 3 {
                                    i32::MAX / 2
                                } else {
                                    rng.below(1 << 22) as i32
                                }
                            })
                            .collect();
                        let u = int8_test_data::query(&mut rng, r * 4 * groups);
                        let mut got = vec![0i32; r * nb];
                        kern.block_mins_i8(&mut got, &rows, &c, &u, r);
                        for i in 0..r {
                            for b in 0..nb {
                                let want = (0..KNN_BLOCK)
                                    .map(|l| {
                                        let dot: i64 = (0..4 * groups)
                                            .map(|t| {
                                                let at = ((b * groups + t / 4) * KNN_BLOCK + l) * 4
                                                    + t % 4;
                                                i64::from(u[i * 4 * groups + t])
                                                    * i64::from(rows[at])
                                            })
                                            .sum();
                                        i64::from(c[b * KNN_BLOCK + l]) - 2 * dot
                                    })
                                    .min()
                                    .unwrap_or(i64::MAX);
                                assert_eq!(
                                    i64::from(got[i * nb + b]),
                                    want,
                                    "{} groups={groups} nb={nb} r={r} i={i} b={b}",
                                    kern.name
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "block_mins_i8 rows shape")]
    fn misshaped_int8_tiles_never_reach_unsafe_code() {
        selected().block_mins_i8(&mut [0; 2], &[0; 64], &[0; 32], &[0; 8], 2);
    }
}
