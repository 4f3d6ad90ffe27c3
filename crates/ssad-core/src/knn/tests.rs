//! The kNN reference against brute force: every search keeps exactly the
//! neighbours of a full scan.

use super::frame::{principal_axes, Frame};
use super::index::BatchI8;
use super::*;
use crate::kernels::{self, Int8Query, KNN_BLOCK};

fn grid() -> Reference {
    // 10x10 unit grid in 2-D.
    let rows: Vec<f32> = (0..100)
        .flat_map(|i| [(i % 10) as f32, (i / 10) as f32])
        .collect();
    Reference::new(2, rows)
}

#[test]
fn the_reference_grows_with_a_clean_sample_only() {
    for clean in [false, true] {
        assert_eq!(reference_rows(10, clean), REFERENCE_ROWS_MIN);
        assert_eq!(reference_rows(1000, clean), REFERENCE_ROWS_MIN);
    }
    assert_eq!(reference_rows(20_000, false), REFERENCE_ROWS_MIN);
    assert_eq!(reference_rows(5_000, true), 5_000);
    assert_eq!(reference_rows(20_000, true), REFERENCE_ROWS_CLEAN);
    // K up to the smallest reference, then the square root's growth.
    assert_eq!(neighbours(0), K);
    assert_eq!(neighbours(REFERENCE_ROWS_MIN), K);
    assert_eq!(neighbours(4 * REFERENCE_ROWS_MIN), 2 * K);
    assert_eq!(neighbours(REFERENCE_ROWS), 4 * K);
}

/// Two 10x10 grids, one of spacing 0.1 at the origin, one of spacing 1
/// far away: equal distances count more near the dense one.
fn two_densities() -> Vec<f32> {
    (0..200)
        .flat_map(|i| {
            let (x, y) = ((i % 10) as f32, ((i / 10) % 10) as f32);
            if i < 100 {
                [0.1 * x, 0.1 * y]
            } else {
                [100.0 + x, 100.0 + y]
            }
        })
        .collect()
}

#[test]
fn the_local_scale_blends_knn_with_lof() {
    let plain = Reference::with_k(2, two_densities(), K);
    let local = Reference::with_local(2, two_densities(), K);
    // The same normaliser, bit for bit; one own distance per row, whose
    // mean it is.
    assert_eq!(plain.norm.to_bits(), local.norm.to_bits());
    assert!(plain.local.is_empty());
    assert_eq!(local.local.len(), 200);
    let mean = local.local.iter().map(|&v| v as f64).sum::<f64>() / 200.0;
    assert!((mean - local.norm as f64).abs() < 1e-4 * mean);
    let mut s = KnnScratch::default();
    let mut cols = [0.0f64; 2];
    let mut ratio = |x: [f32; 2]| {
        let a = plain.distance(&x, &mut s, &mut cols);
        let b = local.distance(&x, &mut s, &mut cols);
        // The shares still sum to the distance (to the search's f32
        // rounding: the shares are summed in the stored frame).
        assert!((cols.iter().sum::<f64>() - b).abs() < 1e-4 * (1.0 + b));
        b / a
    };
    // Near the dense grid (own distances ~0.12, norm ~0.6): up to 2x,
    // near the sparse one (~1.2): down, never below a half.
    let dense = ratio([1.5, 0.45]);
    let sparse = ratio([104.5, 104.5]);
    assert!(dense > 1.5 && dense <= 2.0 + 1e-12, "{dense}");
    assert!((0.5 - 1e-12..0.8).contains(&sparse), "{sparse}");
    // A reference without own distances (formats before 7, default
    // models) scores as before.
    let cleared = Reference {
        local: Vec::new(),
        ..local.clone()
    };
    let x = [1.5f32, 0.45];
    assert_eq!(
        cleared.distance(&x, &mut s, &mut cols).to_bits(),
        plain.distance(&x, &mut s, &mut cols).to_bits()
    );
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
        (5000, 16),
        (2100, 39),
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
        let mut r = Reference::from_parts(d, K, rows, 1.0);
        if n >= KNN_BLOCK {
            // The int8 bounds, wherever the batch layout would pay or not.
            r.index.set_tiles(d, &r.rows, true);
        }
        let mut s = KnnScratch::default();
        for q in 0..40 {
            let x: Vec<f32> = if q % 3 == 0 {
                r.rows[(q * 7 % n) * d..(q * 7 % n + 1) * d].to_vec()
            } else {
                (0..d).map(|_| (rng.normal() * 4.0) as f32).collect()
            };
            let skip = (q % 2 == 0).then_some(q * 7 % n);
            r.nearest(&x, r.k, skip, &mut s);
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

/// The k smallest (distance bits, row) keys of a full scan with the
/// search's own exact kernel: what the pruned search must return, bit for bit.
pub(super) fn full_scan(r: &Reference, x: &[f32], skip: Option<usize>) -> Vec<u64> {
    let ix = &r.index;
    let mut q = vec![0.0; ix.frame.dim()];
    ix.frame.apply(x, &mut q);
    let mut out = vec![0.0; KNN_BLOCK];
    let n = q.len() * KNN_BLOCK;
    let mut keys: Vec<u64> = Vec::new();
    for (b, block) in ix.walk.vals.chunks_exact(n).enumerate() {
        kernels::selected().block_dists(&mut out, block, &q, f32::INFINITY);
        for (l, &o) in out.iter().enumerate() {
            let row = ix.walk.slot_row[b * KNN_BLOCK + l];
            if row != u32::MAX && skip != Some(row as usize) {
                keys.push((u64::from(o.to_bits()) << 32) | u64::from(row));
            }
        }
    }
    keys.sort_unstable();
    keys.truncate(r.k);
    keys
}

#[test]
fn a_reference_row_does_not_vouch_for_itself() {
    let r = grid();
    let (mut s, mut cols) = (KnnScratch::default(), [0.0; 2]);
    // Row 44 is (4, 4): scored, it gets its leave-one-out neighbours.
    let got = r.distance(&[4.0, 4.0], &mut s, &mut cols);
    r.nearest(&[4.0, 4.0], r.k, Some(44), &mut s);
    let loo = mean_dist(&s.best) / r.norm as f64;
    assert_eq!(got.to_bits(), loo.to_bits());
    assert!(got > 0.5, "{got}");
    // A row the reference holds twice still has one exact match.
    let mut rows = r.rows.clone();
    rows.extend([4.0, 4.0]);
    let twice = Reference::new(2, rows);
    let got = twice.distance(&[4.0, 4.0], &mut s, &mut cols);
    twice.nearest(&[4.0, 4.0], twice.k, Some(44), &mut s);
    assert_eq!(s.best[0].0, 0.0);
    assert_eq!(
        got.to_bits(),
        (mean_dist(&s.best) / twice.norm as f64).to_bits()
    );
    // A row off the reference keeps its k nearest.
    let off = r.distance(&[4.5, 4.0], &mut s, &mut cols);
    r.nearest(&[4.5, 4.0], r.k, None, &mut s);
    assert_eq!(
        off.to_bits(),
        (mean_dist(&s.best) / r.norm as f64).to_bits()
    );
}

#[test]
fn pruned_search_returns_the_full_scan_bit_for_bit() {
    let mut rng = crate::rng::Rng::new(5);
    // Binary rows (many exact ties, like flag columns), rows far from the
    // origin (the expanded bound's rounding is largest there), and wide rows.
    for (n, d, kind) in [
        (1024, 39, 0),
        (700, 8, 0),
        (1024, 16, 1),
        (333, 5, 1),
        (500, 80, 2),
        (4100, 39, 0),
        (3000, 16, 1),
        (5000, 8, 2),
    ] {
        let rows: Vec<f32> = (0..n * d)
            .map(|i| match kind {
                0 => (rng.next_f64() < 0.3) as u8 as f32,
                1 => (1000.0 + (i % d) as f64 * 50.0 + rng.normal() * 0.01) as f32,
                _ => rng.normal() as f32,
            })
            .collect();
        let r = Reference::from_parts(d, K, rows, 1.0);
        // The one-row search over first-axis gaps and over int8 bounds.
        let mut walk = r.clone();
        (walk.index.tiles, walk.index.coarse) = (None, None);
        let mut coarse = r.clone();
        coarse.index.set_tiles(d, &coarse.rows, true);
        assert!(coarse.index.coarse.is_some());
        assert_eq!(coarse.index.groups.is_some(), n > 64 * KNN_BLOCK);
        let mut s = KnnScratch::default();
        let mut xs = Vec::new();
        for q in 0..70 {
            let x: Vec<f32> = if q % 2 == 0 {
                r.rows[(q * 13 % n) * d..(q * 13 % n + 1) * d].to_vec()
            } else {
                let src = &r.rows[(q * 7 % n) * d..(q * 7 % n + 1) * d];
                src.iter()
                    .map(|&v| v + (rng.normal() * 0.01) as f32)
                    .collect()
            };
            let skip = (q % 3 == 0).then_some(q * 13 % n);
            for (how, r) in [("walk", &walk), ("int8", &coarse)] {
                r.nearest(&x, r.k, skip, &mut s);
                assert_eq!(
                    s.keys,
                    full_scan(r, &x, skip),
                    "{how} n={n} d={d} kind={kind} q={q}"
                );
            }
            xs.extend(x);
        }
        // The batch path, with block bounds (tiles of 32 and a tail) and
        // row by row, against one row at a time.
        for (bounds, int8) in [(true, false), (true, true), (false, false)] {
            let mut r = r.clone();
            if bounds {
                r.index.set_tiles(d, &r.rows, true);
                // The int8 tiles on any CPU (the selected kernel, or the
                // portable body), or the f32 pass.
                let nb = r.index.lo.len().max(1);
                let ix = &mut r.index;
                ix.batch_i8 = ix.coarse.as_ref().filter(|_| int8).map(|c| {
                    let nb = ix
                        .tiles
                        .as_ref()
                        .map_or(nb, |t| t.slot_row.len() / KNN_BLOCK);
                    BatchI8::new(c, nb)
                });
                assert_eq!(ix.batch_i8.is_some(), int8 && ix.coarse.is_some());
            } else {
                (r.index.tiles, r.index.coarse) = (None, None);
            }
            let (mut cols, mut dists) = (vec![0.0; 70 * d], vec![0.0; 70]);
            r.distance_batch(&xs, &mut s, &mut cols, &mut dists);
            let mut one = vec![0.0; d];
            for (q, x) in xs.chunks_exact(d).enumerate() {
                let want = r.distance(x, &mut s, &mut one);
                assert_eq!(
                    dists[q].to_bits(),
                    want.to_bits(),
                    "n={n} d={d} {kind} {q} {bounds} {int8}"
                );
                assert_eq!(&cols[q * d..(q + 1) * d], &one[..], "n={n} d={d} q={q}");
            }
        }
    }
}

#[test]
fn every_search_agrees_on_queries_that_are_not_numbers() {
    // A query at +-infinity or NaN: every search returns what a full scan
    // keeps (for infinity the k + 1 lowest rows at an infinite distance;
    // for NaN none, as no NaN distance is within a bound), so inline and
    // batch scores agree whatever reaches the search.
    let mut rng = crate::rng::Rng::new(3);
    let d = 16;
    for n in [1024, 3000] {
        let rows: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let r = Reference::from_parts(d, K, rows, 1.0);
        let mut walk = r.clone();
        (walk.index.tiles, walk.index.coarse) = (None, None);
        let mut int8 = r.clone();
        int8.index.set_tiles(d, &int8.rows, true);
        let mut s = KnnScratch::default();
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            for col in [0usize, 5] {
                let mut x: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
                x[col] = bad;
                let want: Vec<u64> = full_scan(&r, &x, None)
                    .into_iter()
                    .filter(|&k| !f32::from_bits((k >> 32) as u32).is_nan())
                    .collect();
                for (how, r) in [("walk", &walk), ("int8", &int8)] {
                    r.nearest(&x, r.k, None, &mut s);
                    assert_eq!(s.keys, want, "{how} {bad} col {col}");
                }
                let mut one = vec![0.0; d];
                let single = walk.distance(&x, &mut s, &mut one);
                let (mut cols, mut dists) = (vec![0.0; d], vec![0.0; 1]);
                int8.distance_batch(&x, &mut s, &mut cols, &mut dists);
                assert_eq!(single.to_bits(), dists[0].to_bits(), "{bad} col {col}");
            }
        }
    }
}

#[test]
fn int8_bounds_leave_few_blocks_to_visit() {
    // Binary flags (as celeba): the first-axis gaps rule out few blocks,
    // the int8 bounds most; both find the same neighbours.
    let mut rng = crate::rng::Rng::new(8);
    let (n, d) = (1024, 39);
    let rows: Vec<f32> = (0..n * d)
        .map(|_| (rng.next_f64() < 0.3) as u8 as f32)
        .collect();
    let mut r = Reference::from_parts(d, K, rows, 1.0);
    // Whatever the load-time timing chose.
    r.index.set_tiles(d, &r.rows, true);
    assert!(r.index.coarse.is_some());
    let mut walk = r.clone();
    (walk.index.tiles, walk.index.coarse) = (None, None);
    let (mut a, mut b) = (KnnScratch::default(), KnnScratch::default());
    for i in (0..n).step_by(16) {
        let x = r.rows[i * d..(i + 1) * d].to_vec();
        r.nearest(&x, r.k, None, &mut a);
        walk.nearest(&x, r.k, None, &mut b);
        assert_eq!(a.keys, b.keys, "row {i}");
    }
    let (int8, gaps) = (a.visits as f64 / 64.0, b.visits as f64 / 64.0);
    assert!(int8 < 0.5 * gaps, "int8 {int8} vs gaps {gaps} blocks a row");
}

#[test]
fn int8_tile_bounds_are_the_one_row_int8_bounds() {
    let mut rng = crate::rng::Rng::new(8);
    for (n, d) in [(1024usize, 30usize), (700, 39), (100, 5)] {
        let rows: Vec<f32> = (0..n * d)
            .map(|i| {
                if i % 7 == 0 {
                    (i % 2) as f32
                } else {
                    rng.normal() as f32
                }
            })
            .collect();
        let mut r = Reference::new(d, rows);
        r.index.set_tiles(d, &r.rows, true);
        let (Some(coarse), Some(tiles)) = (r.index.coarse.clone(), r.index.tiles.as_ref()) else {
            panic!("int8 copy for n={n} d={d}")
        };
        let nb = tiles.slot_row.len() / KNN_BLOCK;
        let bi = BatchI8::new(&coarse, nb);
        let m = r.index.frame.dim();
        let xs: Vec<f32> = (0..9 * d).map(|_| (rng.normal() * 1.5) as f32).collect();
        let mut q = vec![0.0f32; 9 * m];
        r.index.frame.apply_tile(&xs, 9, &mut q);
        let mut u = vec![128u8; 9 * coarse.width];
        let scales: Vec<_> = q
            .chunks_exact(m)
            .zip(u.chunks_exact_mut(coarse.width))
            .map(|(qi, ui)| coarse.quantise(qi, ui))
            .collect();
        let mut mins = vec![0i32; 9 * nb];
        kernels::selected().block_mins_i8(&mut mins, bi.vals.as_i8(), &bi.c, &u, 9);
        let (mut qb, mut want) = (Vec::new(), Vec::new());
        for (i, qi) in q.chunks_exact(m).enumerate() {
            coarse.bounds(qi, &mut qb, &mut want);
            let (qn, step, err) = scales[i];
            let query = Int8Query {
                u: &u[i * coarse.width..(i + 1) * coarse.width],
                qn,
                step,
                err,
            };
            for b in 0..nb {
                let got = kernels::bound_of(mins[i * nb + b], coarse.err[b], query);
                assert_eq!(got.to_bits(), want[b].to_bits(), "n={n} d={d} i={i} b={b}");
            }
        }
    }
}

#[test]
fn batch_bounds_blocks_only_where_the_row_search_visits_many() {
    let mut rng = crate::rng::Rng::new(3);
    // One spread-out axis: the row search visits a few blocks.
    let line: Vec<f32> = (0..1024)
        .flat_map(|i| [i as f32, (rng.normal() * 0.01) as f32])
        .collect();
    assert!(!Reference::new(2, line).index.batch_bounds);
    // Independent noise in 30 columns: it visits most of them.
    let noise: Vec<f32> = (0..1024 * 30).map(|_| rng.normal() as f32).collect();
    assert!(Reference::new(30, noise).index.batch_bounds);
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
            a[i * d + j] = 1.0 / (1.0 + i as f64 + j as f64) + if i == j { i as f64 } else { 0.0 };
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
            r.nearest(&x, r.k, skip, &mut s);
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
    flat.nearest(&[1.0, 3.0], flat.k, Some(1), &mut s);
    assert_eq!(s.best, vec![(4.0, 0), (4.0, 2), (4.0, 3)]);
}
