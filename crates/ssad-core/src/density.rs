//! The "surprising on its own" evidence of a numeric column: an HBOS-like
//! density (a frequency table for low-cardinality columns, an equal-width
//! histogram over the training range otherwise) turned into a level-set tail
//! probability: the training share of values whose cell is at most as
//! populated as this value's. It sees what a two-sided tail misses: values in
//! a low-density gap inside the range, and rare levels of a discrete column.
//! Beyond the range (and for never-seen levels) it extrapolates: one robust
//! unit of distance costs one nat.

use serde::Serialize;

/// Equal-width bins of the histogram of a continuous column.
pub const BINS: usize = 20;
/// Columns with at most this many distinct values (each seen 5 times on
/// average) get a frequency table instead of a histogram.
pub const MAX_DISCRETE: usize = 50;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Density {
    /// Distinct training values (sorted) of a discrete column; empty for a histogram.
    pub values: Vec<f64>,
    /// Training count per distinct value, or per histogram bin.
    pub counts: Vec<u64>,
    /// Training range.
    pub lo: f64,
    pub hi: f64,
    /// Robust unit of the column for the extrapolation beyond the range.
    pub scale: f64,
    /// Derived: -ln(level-set tail probability) per cell.
    #[serde(skip)]
    level: Vec<f64>,
    /// Derived: -ln(0.5 / (n + 1)), the surprise of a value never seen.
    #[serde(skip)]
    floor: f64,
    /// Derived: largest surprise of a populated cell.
    #[serde(skip)]
    top: f64,
    /// The largest distance beyond the range that counts, in `scale` units
    /// (`NumericEncoder::z`'s bound, set by `bounded`; `f64::MAX`, which cuts
    /// only an infinite one, until then).
    #[serde(skip)]
    z_max: f64,
}

impl Density {
    /// Fit on sorted finite values (at least one).
    pub fn fit(sorted: &[f64], scale: f64) -> Self {
        let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
        let mut values: Vec<f64> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for &x in sorted {
            if values.last() == Some(&x) {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
            } else {
                values.push(x);
                counts.push(1);
            }
        }
        if !(values.len() <= MAX_DISCRETE && values.len() * 5 <= sorted.len()) {
            // A new vector, not a cleared one: the model keeps the encoder
            // for good, and the distinct values' capacity (8 bytes a
            // training row) with it.
            values = Vec::new();
            counts = vec![0; BINS];
            for &x in sorted {
                counts[bin(lo, hi, x)] += 1;
            }
        }
        Self::from_parts(values, counts, lo, hi, scale)
    }

    /// Rebuild from the stored fields (the derived tables are recomputed).
    pub fn from_parts(values: Vec<f64>, counts: Vec<u64>, lo: f64, hi: f64, scale: f64) -> Self {
        let n: u64 = counts.iter().sum();
        let nf = n as f64;
        let floor = -(0.5 / (nf + 1.0)).ln();
        // Share of training values in cells at most as populated as each cell.
        let mut by_count: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
        by_count.sort_unstable();
        let level = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    return f64::INFINITY;
                }
                let ge: u64 = by_count.iter().take_while(|&&b| b <= c).sum();
                -((ge as f64 + 0.5) / (nf + 1.0)).ln()
            })
            .collect();
        let top = by_count
            .first()
            .map_or(floor, |&c| -((c as f64 + 0.5) / (nf + 1.0)).ln());
        Density {
            values,
            counts,
            lo,
            hi,
            scale,
            level,
            floor,
            top,
            z_max: f64::MAX,
        }
    }

    /// This density with distances beyond the range counted up to `z_max`
    /// scale units (`surprise`).
    pub(crate) fn bounded(mut self, z_max: f64) -> Self {
        self.z_max = z_max;
        self
    }

    pub fn is_discrete(&self) -> bool {
        !self.values.is_empty()
    }

    /// The index of `x` among a discrete column's levels (compared as
    /// numbers), if it is one.
    #[inline]
    pub fn level_index(&self, x: f64) -> Option<usize> {
        // At most `MAX_DISCRETE` values: a branch-free count instead of a
        // binary search, whose branches a column of random levels
        // mispredicts (measured: 5-7% of a top-k scan of celeba).
        let i: usize = self.values.iter().map(|&v| usize::from(v < x)).sum();
        (i < self.values.len() && self.values[i] == x).then_some(i)
    }

    /// -ln of the level-set tail probability of x: ~0 for values in the
    /// populated cells, growing with rarity; extrapolated for unseen cells,
    /// one nat a `scale` unit beyond the range up to `z_max` units (never
    /// infinite: a finite value far beyond a narrow column's range would
    /// otherwise reach an infinite distance).
    pub fn surprise(&self, x: f64) -> f64 {
        let beyond = if x < self.lo {
            self.lo - x
        } else if x > self.hi {
            x - self.hi
        } else {
            0.0
        };
        let cell = if beyond > 0.0 {
            None
        } else if self.is_discrete() {
            self.level_index(x)
        } else {
            Some(bin(self.lo, self.hi, x))
        };
        match cell {
            Some(i) if self.counts[i] > 0 => self.level[i],
            // Never seen: rarer than the rarest populated cell.
            _ => {
                let far = (beyond / self.scale).min(self.z_max);
                self.floor + (self.floor + far - self.top).max(0.0)
            }
        }
    }

    /// The surprise of the farthest value there is: `z_max` scale units
    /// beyond the range (where `surprise` stops growing).
    pub fn farthest(&self) -> f64 {
        self.floor + (self.floor + self.z_max - self.top).max(0.0)
    }
}

fn bin(lo: f64, hi: f64, x: f64) -> usize {
    if hi <= lo {
        return 0;
    }
    // Truncation is floor here (never negative), without a libm call; NaN gives 0.
    ((((x - lo) / (hi - lo)) * BINS as f64).max(0.0) as usize).min(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(xs: &[f64]) -> Density {
        let mut s = xs.to_vec();
        s.sort_by(f64::total_cmp);
        Density::fit(&s, 1.0)
    }

    #[test]
    fn gap_inside_the_range_is_surprising() {
        // Two clusters, 0..1 and 9..10, nothing between.
        let xs: Vec<f64> = (0..1000)
            .map(|i| {
                let u = (i % 500) as f64 / 500.0;
                if i < 500 {
                    u
                } else {
                    9.0 + u
                }
            })
            .collect();
        let d = fit(&xs);
        assert!(!d.is_discrete());
        assert!(d.surprise(0.5) < 0.5, "{}", d.surprise(0.5));
        assert!(d.surprise(5.0) > 6.0, "{}", d.surprise(5.0));
        assert!(d.surprise(12.0) > d.surprise(11.0));
        assert!(d.surprise(11.0) > d.surprise(5.0) - 1e-9);
    }

    #[test]
    fn rare_and_unseen_levels_of_a_discrete_column() {
        let mut xs = vec![0.0; 950];
        xs.extend(vec![16.0; 40]);
        xs.extend(vec![7.0; 10]);
        let d = fit(&xs);
        assert!(d.is_discrete());
        assert!(d.surprise(0.0) < 0.01);
        assert!(d.surprise(7.0) > 4.0);
        assert!(d.surprise(16.0) < d.surprise(7.0));
        assert!(d.surprise(3.0) > d.surprise(7.0));
        assert!(d.surprise(30.0) > d.surprise(3.0));
    }

    #[test]
    fn round_trips_through_its_parts() {
        let xs: Vec<f64> = (0..300).map(|i| (i as f64).sqrt()).collect();
        let d = fit(&xs);
        let e = Density::from_parts(d.values.clone(), d.counts.clone(), d.lo, d.hi, d.scale);
        assert_eq!(d, e);
    }
}
