//! Property tests of the kNN searches (`proptest`): whatever the reference
//! (size, width, scale, offset, exact duplicates, binary flags, constant
//! columns) and the query (a reference row, a midpoint of two, a row with a
//! flag flipped, a slightly perturbed row, a far one),
//! the first-axis walk, the int8-bounded search and the batch search keep
//! exactly the neighbours of a full scan with the same kernel, bit for bit.

use super::index::GROUP_MIN_BLOCKS;
use super::search::Held;
use super::tests::full_scan;
use super::*;
use crate::kernels::KNN_BLOCK;
use crate::prop_check::check;
use crate::rng::Rng;
use proptest::prelude::*;

/// Rows of a reference drawn from `seed`: `kind` 0 Gaussian around `offset`
/// at `scale`, 1 binary flags, 2 Gaussian with every third column constant,
/// 3 a level of its own per column with tiny noise;
/// every `dup`-th row (if `dup > 0`) a copy of an earlier one.
fn rows(n: usize, d: usize, kind: u8, scale: f64, offset: f64, dup: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = Vec::with_capacity(n * d);
    for i in 0..n {
        if dup > 0 && i > 0 && i % (dup + 1) == dup {
            let src = (i / 2) * d;
            let copy = v[src..src + d].to_vec();
            v.extend(copy);
            continue;
        }
        for j in 0..d {
            let x = match kind {
                1 => f64::from(u8::from(rng.next_f64() < 0.3)) * scale,
                2 if j % 3 == 2 => offset,
                // Far from the origin, a different level per column, tiny
                // noise: the int8 step is coarse against the distances.
                3 => offset + j as f64 * 50.0 + rng.normal() * scale * 1e-3,
                _ => offset + rng.normal() * scale,
            };
            v.push(x as f32);
        }
    }
    v
}

#[test]
fn every_search_returns_the_full_scan() {
    searches_return_the_full_scan(128, 1..1100);
}

/// References past `GROUP_MIN_BLOCKS` blocks, whose one-row search bounds
/// groups of blocks by their boxes first.
#[test]
fn every_grouped_search_returns_the_full_scan() {
    searches_return_the_full_scan(24, 1025..6000);
}

fn searches_return_the_full_scan(cases: u32, sizes: std::ops::Range<usize>) {
    let strategy = (
        sizes,
        prop_oneof![1usize..12, 12usize..41],
        0u8..4,
        -3i32..4,
        -1000.0f64..1000.0,
        0usize..6,
        any::<u64>(),
    );
    check(
        cases,
        strategy,
        |(n, d, kind, scale_exp, offset, dup, seed)| {
            let scale = 10f64.powi(scale_exp);
            // Any number of neighbours a reference may average (`knn::neighbours`).
            let k = 1 + (seed % 24) as usize;
            let r = Reference::from_parts(d, k, rows(n, d, kind, scale, offset, dup, seed), 1.0);
            let mut walk = r.clone();
            (walk.index.tiles, walk.index.coarse) = (None, None);
            let mut int8 = r.clone();
            int8.index.set_tiles(d, &int8.rows, true);
            prop_assert_eq!(
                int8.index.groups.is_some(),
                int8.index.coarse.is_some() && n.div_ceil(KNN_BLOCK) > GROUP_MIN_BLOCKS
            );
            let mut rng = Rng::new(seed ^ 0x5eed);
            let (mut s, mut xs) = (KnnScratch::default(), Vec::new());
            for q in 0..10usize {
                let i = (q * 7919) % n;
                let row = &r.rows[i * d..(i + 1) * d];
                let other = &r.rows[((i + n / 2) % n) * d..((i + n / 2) % n + 1) * d];
                // A reference row; midway between two (ties); one column moved
                // by one scale step (a flipped flag); slightly off; far off.
                let x: Vec<f32> = match q % 5 {
                    0 => row.to_vec(),
                    1 => row
                        .iter()
                        .zip(other)
                        .map(|(&a, &b)| (a + b) / 2.0)
                        .collect(),
                    2 => {
                        let mut x = row.to_vec();
                        x[q % d] += scale as f32;
                        x
                    }
                    3 => row
                        .iter()
                        .map(|&v| v + (rng.normal() * scale * 0.01) as f32)
                        .collect(),
                    _ => row.iter().map(|&v| v + (100.0 * scale) as f32).collect(),
                };
                let skip = (q % 2 == 0).then_some(i);
                let want = full_scan(&r, &x, skip);
                for (how, r) in [("walk", &walk), ("int8", &int8)] {
                    r.nearest(&x, r.k, skip, &mut s);
                    prop_assert_eq!(&s.keys, &want, "{} query {}", how, q);
                }
                xs.extend(x);
            }
            // The batch search (block bounds over tiles of queries) scores each
            // row bit for bit as the one-row search does.
            let m = xs.len() / d;
            let (mut cols, mut dists) = (vec![0.0; m * d], vec![0.0; m]);
            int8.distance_batch(&xs, &mut s, &mut cols, &mut dists);
            let mut one = vec![0.0; d];
            for (q, x) in xs.chunks_exact(d).enumerate() {
                let single = walk.distance(x, &mut s, &mut one);
                prop_assert_eq!(single.to_bits(), dists[q].to_bits(), "query {}", q);
                prop_assert_eq!(&cols[q * d..(q + 1) * d], &one[..]);
            }
            Ok(())
        },
    );
}

#[test]
fn held_keeps_the_k_smallest_keys_in_order() {
    let strategy = (
        1usize..10,
        proptest::collection::vec((0u64..64, 0u64..1024), 0..80),
    );
    check(256, strategy, |(k, offered)| {
        // Few distinct distances: many ties, broken by the row in the low bits.
        let keys_in: Vec<u64> = offered
            .iter()
            .map(|&(dist, row)| (dist << 32) | row)
            .collect();
        let (mut held, mut keys) = (Held::new(k), Vec::new());
        for &c in &keys_in {
            held.offer(&mut keys, c);
        }
        let mut want = keys_in.clone();
        want.sort_unstable();
        want.truncate(k);
        prop_assert_eq!(&keys, &want);
        let worst = if want.len() == k {
            f32::from_bits((want[k - 1] >> 32) as u32)
        } else {
            f32::INFINITY
        };
        prop_assert_eq!(held.worst.to_bits(), worst.to_bits());
        Ok(())
    });
}
