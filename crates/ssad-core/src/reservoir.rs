//! Uniform reservoir sampling (Algorithm R) over a stream of unknown length,
//! so that training sees a uniform sample of the whole table in one pass.

use crate::rng::Rng;

pub struct Reservoir<T> {
    cap: usize,
    seen: u64,
    items: Vec<T>,
    rng: Rng,
}

impl<T> Reservoir<T> {
    pub fn new(cap: usize, seed: u64) -> Self {
        Reservoir {
            cap,
            seen: 0,
            items: Vec::with_capacity(cap.min(1 << 16)),
            rng: Rng::new(seed ^ SAMPLE_SALT),
        }
    }

    /// Offer one item; it is kept with probability cap / seen.
    pub fn offer(&mut self, item: T) {
        self.offer_with(|| item)
    }

    /// `offer` of the item `make` builds, built only when it is kept (the
    /// same draws as `offer`, so the same sample).
    pub fn offer_with(&mut self, make: impl FnOnce() -> T) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(make());
        } else {
            let j = self.rng.below(self.seen);
            if (j as usize) < self.cap {
                self.items[j as usize] = make();
            }
        }
    }

    /// Number of items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

/// Salt so the sample stream differs from the model's initialisation stream.
const SAMPLE_SALT: u64 = 0x5EED_5A3F;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_below_cap() {
        let mut r = Reservoir::new(10, 1);
        for i in 0..5 {
            r.offer(i);
        }
        assert_eq!(r.into_items(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn offer_with_keeps_what_offer_keeps_and_builds_only_that() {
        let (mut a, mut b) = (Reservoir::new(7, 3), Reservoir::new(7, 3));
        let mut built = 0;
        for i in 0..1000 {
            a.offer(i);
            b.offer_with(|| {
                built += 1;
                i
            });
        }
        assert_eq!(a.into_items(), b.into_items());
        assert!(
            built < 100,
            "{built} items built for a 7-item sample of 1000"
        );
    }

    #[test]
    fn sample_is_uniform() {
        // Each of 100 items should land in a 10-slot reservoir ~10% of the time.
        let mut hits = vec![0u32; 100];
        for seed in 0..4000 {
            let mut r = Reservoir::new(10, seed);
            for i in 0..100 {
                r.offer(i);
            }
            assert_eq!(r.seen(), 100);
            for i in r.into_items() {
                hits[i] += 1;
            }
        }
        for h in hits {
            assert!((300..500).contains(&h), "{h}");
        }
    }
}
