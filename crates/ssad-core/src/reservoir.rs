//! Uniform reservoir sampling (Algorithm R) over a stream of unknown length,
//! so that training sees a uniform sample of the whole table in one pass.
//!
//! `Draws` makes Algorithm R's decisions apart from the items, so that every
//! store of the items (a `Vec` here, the compact `sample::SampleReservoir`)
//! keeps the same rows in the same slots for a seed.

use crate::rng::Rng;

/// What to do with the next item offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Append it (the reservoir is not full yet).
    Append,
    /// Put it in place of the member in this slot.
    Replace(usize),
    /// Leave it out.
    Skip,
}

/// Algorithm R's random choices for a reservoir of at most `cap` members.
#[derive(Clone, Debug)]
pub struct Draws {
    cap: usize,
    seen: u64,
    len: usize,
    rng: Rng,
}

impl Draws {
    pub fn new(cap: usize, seed: u64) -> Self {
        Draws {
            cap,
            seen: 0,
            len: 0,
            rng: Rng::new(seed ^ SAMPLE_SALT),
        }
    }

    /// The slot of the next item offered: kept with probability cap / seen.
    pub fn slot(&mut self) -> Slot {
        self.seen += 1;
        if self.len < self.cap {
            self.len += 1;
            Slot::Append
        } else {
            let j = self.rng.below(self.seen);
            if (j as usize) < self.cap {
                Slot::Replace(j as usize)
            } else {
                Slot::Skip
            }
        }
    }

    /// Lower the cap to `cap` and return the slots of the members to drop,
    /// ascending: a uniformly random `len - cap` of them (none when the
    /// reservoir holds no more than `cap`). The remaining members, in their
    /// order, take slots 0, 1, ... A uniform subset of a uniform sample is a
    /// uniform sample, and Algorithm R continued from a uniform sample of the
    /// items seen keeps its sample uniform: the reservoir stays a uniform
    /// sample of the whole stream, only smaller.
    pub fn shrink(&mut self, cap: usize) -> Vec<usize> {
        let cap = cap.min(self.cap);
        self.cap = cap;
        if self.len <= cap {
            return Vec::new();
        }
        // Partial Fisher-Yates: the first len - cap of a shuffle of the slots.
        let mut slots: Vec<usize> = (0..self.len).collect();
        let drop = self.len - cap;
        for i in 0..drop {
            let j = i + self.rng.below((self.len - i) as u64) as usize;
            slots.swap(i, j);
        }
        slots.truncate(drop);
        slots.sort_unstable();
        self.len = cap;
        slots
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Members held now.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most members the reservoir keeps.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

pub struct Reservoir<T> {
    draws: Draws,
    items: Vec<T>,
}

impl<T> Reservoir<T> {
    pub fn new(cap: usize, seed: u64) -> Self {
        Reservoir {
            draws: Draws::new(cap, seed),
            items: Vec::with_capacity(cap.min(1 << 16)),
        }
    }

    /// Offer one item; it is kept with probability cap / seen.
    pub fn offer(&mut self, item: T) {
        self.offer_with(|| item)
    }

    /// `offer` of the item `make` builds, built only when it is kept (the
    /// same draws as `offer`, so the same sample).
    pub fn offer_with(&mut self, make: impl FnOnce() -> T) {
        match self.draws.slot() {
            Slot::Append => self.items.push(make()),
            Slot::Replace(j) => self.items[j] = make(),
            Slot::Skip => {}
        }
    }

    /// Keep at most `cap` items from now on, dropping random members
    /// (`Draws::shrink`): still a uniform sample.
    pub fn shrink(&mut self, cap: usize) {
        let drop = self.draws.shrink(cap);
        let mut next = drop.iter().peekable();
        let mut i = 0;
        self.items.retain(|_| {
            let gone = next.next_if_eq(&&i).is_some();
            i += 1;
            !gone
        });
    }

    /// Number of items offered so far.
    pub fn seen(&self) -> u64 {
        self.draws.seen()
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

    /// Shrunk from 20 to 10 members after 50 of 100 items (or while still
    /// filling, after 15): every item is kept about 10% of the time, those
    /// seen before the shrink as often as those after it.
    #[test]
    fn a_sample_shrunk_mid_stream_stays_uniform() {
        for at in [15, 50] {
            let mut hits = vec![0u32; 100];
            for seed in 0..4000 {
                let mut r = Reservoir::new(20, seed);
                for i in 0..100 {
                    if i == at {
                        r.shrink(10);
                    }
                    r.offer(i);
                }
                let items = r.into_items();
                assert_eq!(items.len(), 10);
                for i in items {
                    hits[i] += 1;
                }
            }
            for (i, h) in hits.iter().enumerate() {
                assert!((300..500).contains(h), "item {i} (shrunk at {at}): {h}");
            }
        }
    }

    #[test]
    fn shrinking_drops_members_and_keeps_the_order_of_the_rest() {
        let mut d = Draws::new(8, 5);
        for _ in 0..8 {
            assert_eq!(d.slot(), Slot::Append);
        }
        let gone = d.shrink(5);
        assert_eq!(gone.len(), 3);
        assert!(gone.windows(2).all(|w| w[0] < w[1]) && gone.iter().all(|&s| s < 8));
        assert_eq!((d.len(), d.cap()), (5, 5));
        assert!(d.shrink(9).is_empty(), "a cap is never raised");
        assert_eq!(d.cap(), 5);
        let mut r = Reservoir::new(8, 5);
        for i in 0..8 {
            r.offer(i);
        }
        r.shrink(5);
        let kept: Vec<usize> = (0..8).filter(|i| !gone.contains(i)).collect();
        assert_eq!(r.into_items(), kept);
    }
}
