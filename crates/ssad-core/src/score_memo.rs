//! The scores of rows a scan has already scored, keyed by their cells, so
//! that a row repeated across fetches is scored once per scan: of celeba's
//! 202,599 rows 44% repeat an earlier row somewhere in the table, 12% within
//! a 10,000-row fetch. A score depends on the row's cells alone, so a copy's
//! score is the first's bit for bit. The memo is the backend's alone (no
//! lock, no pool thread touches it) and holds at most `budget` bytes; once
//! full it stops taking rows and keeps answering for those it holds.

/// Slots probed for one row before the memo gives up on it: rows crafted to
/// collide cannot make a scan quadratic (a miss is always right).
const MAX_PROBES: usize = 32;

/// Bytes a held row costs besides its cells and slots: its score and the
/// hash bits that place it.
const ENTRY_BYTES: usize = 8 + 4;
/// Slots of the first table.
const FIRST_SLOTS: usize = 1024;
/// Cells of one piece of the store: rows are appended to fixed pieces, never
/// moved (a growing vector copies what it holds and faults in the new
/// pages each time it doubles).
const PIECE_CELLS: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct ScoreMemo {
    width: usize,
    budget: usize,
    /// Open addressing, 0 for a free slot, else a held row's hash tag (the
    /// hash's low 32 bits) above its entry number plus one: most rows that
    /// are not held are told apart by the slot alone.
    slots: Vec<u64>,
    /// The held rows' cells, `per_piece` rows a piece.
    pieces: Vec<Vec<u64>>,
    per_piece: usize,
    scores: Vec<f64>,
    /// Each held row's hash, high 32 bits: where it goes in a larger table.
    places: Vec<u32>,
    full: bool,
}

/// What `ScoreMemo::place` did with a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Placed {
    /// Held already, as this entry.
    Held(u32),
    /// Added as this entry, its score pending.
    New(u32),
    /// Not held.
    Refused,
}

/// Whether two rows' cells are equal: a branch-free pass (rows are short;
/// a library `memcmp` call costs more than the compare).
#[inline]
pub(crate) fn same_cells(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u64, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ScoreMemo {
    /// An empty memo for rows of `width` cells that holds at most `budget`
    /// bytes (none at 0).
    pub fn new(width: usize, budget: usize) -> Self {
        ScoreMemo {
            width,
            budget,
            per_piece: (PIECE_CELLS / width.max(1)).max(1),
            ..Default::default()
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Bytes held (whole pieces): never above the budget.
    pub fn bytes(&self) -> usize {
        self.pieces.len() * self.per_piece * self.width * 8
            + self.len() * ENTRY_BYTES
            + self.slots.len() * 8
    }

    /// Whether a row of `width` cells could ever be held.
    pub fn takes(&self, width: usize) -> bool {
        width == self.width
            && width > 0
            && self.budget >= self.per_piece * width * 8 + ENTRY_BYTES + FIRST_SLOTS * 8
    }

    #[inline]
    fn row(&self, e: usize) -> &[u64] {
        let (p, i) = (e / self.per_piece, e % self.per_piece);
        &self.pieces[p][i * self.width..(i + 1) * self.width]
    }

    /// The scores held for rows `row(i)` (whose `cells_hash` is
    /// `hashes[i]`), NaN where none is held or it is pending. The lookups
    /// overlap their cache misses (`prefetch_ahead`).
    pub fn get_many<'a>(&self, hashes: &[u64], row: impl Fn(usize) -> &'a [u64]) -> Vec<f64> {
        hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                self.prefetch_ahead(hashes, i);
                self.find(h, row(i)).map_or(f64::NAN, |e| self.score(e))
            })
            .collect()
    }

    /// The entry of `row` (whose `cells_hash` is `hash`): held already
    /// (its score may still be pending), or added now with its score pending
    /// (`set` gives it), or refused: the budget is spent (`full` from then
    /// on) or its probe run is too long.
    pub fn place(&mut self, hash: u64, row: &[u64]) -> Placed {
        let (w, n) = (self.width, self.len());
        if row.len() != w || w == 0 {
            return Placed::Refused;
        }
        if let Some(e) = self.find(hash, row) {
            return Placed::Held(e);
        }
        // The table stays at most half full; a new piece when the last is full.
        let slots = if 2 * (n + 1) > self.slots.len() {
            (2 * self.slots.len()).max(FIRST_SLOTS)
        } else {
            self.slots.len()
        };
        let pieces = n / self.per_piece + 1;
        let need = pieces * self.per_piece * w * 8 + (n + 1) * ENTRY_BYTES + slots * 8;
        if need > self.budget || n >= u32::MAX as usize - 1 {
            self.full = true;
            return Placed::Refused;
        }
        if slots != self.slots.len() {
            self.grow(slots);
        }
        let mask = self.slots.len() - 1;
        let mut i = (hash >> 32) as usize & mask;
        for _ in 0..MAX_PROBES {
            if self.slots[i] == 0 {
                self.slots[i] = (hash << 32) | (n as u64 + 1);
                if self.pieces.len() < pieces {
                    self.pieces.push(Vec::with_capacity(self.per_piece * w));
                }
                if let Some(p) = self.pieces.last_mut() {
                    p.extend_from_slice(row);
                }
                self.scores.push(f64::NAN);
                self.places.push((hash >> 32) as u32);
                return Placed::New(n as u32);
            }
            i = (i + 1) & mask;
        }
        Placed::Refused
    }

    /// `place` of rows `row(i)` (hashes `hashes[i]`), into `out`, their
    /// cache misses overlapped as in `get_many`.
    pub fn place_many<'a>(
        &mut self,
        hashes: &[u64],
        row: impl Fn(usize) -> &'a [u64],
        out: &mut Vec<Placed>,
    ) {
        out.clear();
        for (i, &h) in hashes.iter().enumerate() {
            self.prefetch_ahead(hashes, i);
            out.push(self.place(h, row(i)));
        }
    }

    /// The score of entry `e` (NaN while pending).
    pub fn score(&self, e: u32) -> f64 {
        self.scores.get(e as usize).copied().unwrap_or(f64::NAN)
    }

    /// Give entry `e` its score.
    pub fn set(&mut self, e: u32, score: f64) {
        if let Some(v) = self.scores.get_mut(e as usize) {
            *v = score;
        }
    }

    /// Whether a row was refused for the budget.
    pub fn full(&self) -> bool {
        self.full
    }

    /// The entry holding `row`, if any.
    fn find(&self, hash: u64, row: &[u64]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (hash >> 32) as usize & mask;
        for _ in 0..MAX_PROBES {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == hash & 0xFFFF_FFFF {
                let e = slot as u32 - 1;
                if same_cells(self.row(e as usize), row) {
                    return Some(e);
                }
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Ask for what the lookups of rows `AHEAD` and `AHEAD / 2` on will
    /// read: the first's slot, the second's stored row.
    #[inline(always)]
    fn prefetch_ahead(&self, hashes: &[u64], i: usize) {
        const AHEAD: usize = 16;
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let at = |h: u64| (h >> 32) as usize & mask;
        if let Some(&ahead) = hashes.get(i + AHEAD) {
            prefetch(&self.slots[at(ahead)]);
        }
        if let Some(&half) = hashes.get(i + AHEAD / 2) {
            let slot = self.slots[at(half)];
            if slot != 0 && slot >> 32 == half & 0xFFFF_FFFF {
                prefetch(&self.row((slot as u32 - 1) as usize)[0]);
            }
        }
    }

    /// `size` slots, every held row placed again.
    fn grow(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|&s| s != 0) {
            let e = (slot as u32 - 1) as usize;
            let mut i = self.places[e] as usize & mask;
            // Fewer rows than half the slots: a free one is always found.
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

/// Ask for the cache line holding `v` (a hint: it never faults, and does
/// nothing where the target has no such instruction).
#[inline(always)]
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and never faults;
    // SSE is part of every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((v as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::cells_hash;

    fn row(i: u64) -> Vec<u64> {
        vec![i, i * 7, u64::MAX - i]
    }

    #[test]
    fn holds_rows_by_their_cells_within_the_budget() {
        let piece = (PIECE_CELLS / 3) * 3 * 8;
        let budget = piece + 1000 * ENTRY_BYTES + 2048 * 8;
        let mut m = ScoreMemo::new(3, budget);
        assert!(m.takes(3) && !m.takes(2));
        for i in 0..1500u64 {
            let r = row(i);
            let placed = m.place(cells_hash(&r), &r);
            match placed {
                Placed::New(e) => m.set(e, i as f64),
                _ => assert!(i >= 1000 && m.full(), "row {i}: {placed:?}"),
            }
        }
        // The budget holds a piece, 1,000 rows' scores and 2,048 slots: the
        // first 1,000 rows offered.
        assert_eq!(m.len(), 1000);
        assert_eq!(m.bytes(), budget);
        let rows: Vec<Vec<u64>> = (0..1500).map(row).collect();
        let hashes: Vec<u64> = rows.iter().map(|r| cells_hash(r)).collect();
        let got = m.get_many(&hashes, |i| &rows[i]);
        for (i, g) in got.iter().enumerate() {
            let want = if i < 1000 { i as f64 } else { f64::NAN };
            assert_eq!(g.to_bits(), want.to_bits(), "row {i}");
        }
        // A row held again is found, with its first score.
        let r = row(3);
        assert_eq!(m.place(cells_hash(&r), &r), Placed::Held(3));
        assert_eq!(m.score(3), 3.0);
        // Equal hashes, other cells: never another row's score.
        let (a, b) = (row(5), row(6));
        assert!(m.get_many(&[cells_hash(&a)], |_| &b)[0].is_nan());
        // No budget: nothing held.
        let mut none = ScoreMemo::new(3, 0);
        assert!(!none.takes(3));
        assert_eq!(none.place(1, &row(1)), Placed::Refused);
        assert!(none.is_empty() && none.full());
    }

    #[test]
    fn rows_that_hash_alike_are_never_confused() {
        let mut m = ScoreMemo::new(3, 1 << 24);
        let mut out = Vec::new();
        let rows: Vec<Vec<u64>> = (0..100).map(row).collect();
        m.place_many(&[42; 100], |i| &rows[i], &mut out);
        // A run of MAX_PROBES colliding rows, then each further one refused
        // (its own score, never another's); the memo is not full.
        let held = out.iter().filter(|p| matches!(p, Placed::New(_))).count();
        assert_eq!(held, MAX_PROBES);
        assert!(!m.full());
        for (i, p) in out.iter().enumerate() {
            if let Placed::New(e) = *p {
                m.set(e, i as f64);
            }
        }
        for (i, g) in m.get_many(&[42; 100], |i| &rows[i]).iter().enumerate() {
            assert!(g.is_nan() || *g == i as f64, "row {i}");
        }
        // Pending until set.
        let r = row(1000);
        let h = cells_hash(&r);
        let Placed::New(e) = m.place(h, &r) else {
            panic!("a new row is held")
        };
        assert!(m.score(e).is_nan());
        assert_eq!(m.place(h, &r), Placed::Held(e));
    }
}
