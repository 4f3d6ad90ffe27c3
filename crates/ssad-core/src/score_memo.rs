//! The scores of rows a scan has already scored, keyed by their cells, so
//! that a row repeated across fetches is scored once per scan: of celeba's
//! 202,599 rows 44% repeat an earlier row somewhere in the table, 12% within
//! a 10,000-row fetch. A score depends on the row's cells alone, so a copy's
//! score is the first's bit for bit. The memo is the backend's alone (no
//! lock, no pool thread touches it) and holds at most `budget` bytes; once
//! full it stops taking rows and keeps answering for those it holds.

use crate::rows::NULL_CELL;

/// Slots probed for one row before the memo gives up on it: rows crafted to
/// collide cannot make a scan quadratic (a miss is always right).
const MAX_PROBES: usize = 32;

/// Bytes a held row costs besides its stored cells and slots: its score,
/// the hash bits that place it and where its cells lie.
const ENTRY_BYTES: usize = 8 + 4 + 8;
/// Slots of the first table.
const FIRST_SLOTS: usize = 1024;
/// Bytes of one piece of the store (at least one row's): rows are appended
/// to fixed pieces, never moved (a growing vector copies what it holds and
/// faults in the new pages each time it doubles).
const PIECE_BYTES: usize = 1 << 19;
/// A stored row's location: its piece above, its offset below, and this
/// bit when its cells are stored a byte each.
const SMALL: u64 = 1 << 31;

#[derive(Debug, Default)]
pub struct ScoreMemo {
    width: usize,
    budget: usize,
    /// Open addressing, 0 for a free slot, else a held row's hash tag (the
    /// hash's low 32 bits) above its entry number plus one: most rows that
    /// are not held are told apart by the slot alone.
    slots: Vec<u64>,
    /// The held rows' cells, end to end in pieces: a byte a cell where
    /// every cell is NULL or a whole number from -127 to 127 (flags, codes,
    /// counts: a row of 39 flags takes 39 bytes, not 312), else 8 bytes a
    /// cell. Fewer bytes, fewer fresh pages for a scan to fault in.
    pieces: Vec<Vec<u8>>,
    /// Per held row, where its cells lie (`SMALL`).
    locs: Vec<u64>,
    scores: Vec<f64>,
    /// Each held row's hash, high 32 bits: where it goes in a larger table.
    places: Vec<u32>,
    full: bool,
    /// The row being placed, in its stored form.
    enc: Vec<u8>,
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

/// `rows::same_cells` over stored bytes, 8 at a time.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = wa.remainder() == wb.remainder();
    tails
        && wa
            .zip(wb)
            .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)))
            == 0
}

/// A row's cells as the memo stores them, into `out`: a byte a cell
/// (`0x80` for NULL) when each is NULL or a whole number from -127 to 127
/// (not -0.0), else each cell's 8 bytes. Equal cells give equal bytes and
/// unequal cells unequal ones (the two forms differ in length). True for
/// the byte form.
fn encode(row: &[u64], out: &mut Vec<u8>) -> bool {
    out.clear();
    let small = |c: u64| -> Option<u8> {
        if c == NULL_CELL {
            return Some(0x80);
        }
        let t = f64::from_bits(c) as i8;
        (t != i8::MIN && f64::from(t).to_bits() == c).then_some(t as u8)
    };
    for &c in row {
        match small(c) {
            Some(b) => out.push(b),
            None => {
                out.clear();
                out.extend(row.iter().flat_map(|c| c.to_le_bytes()));
                return false;
            }
        }
    }
    true
}

impl ScoreMemo {
    /// An empty memo for rows of `width` cells that holds at most `budget`
    /// bytes (none at 0).
    pub fn new(width: usize, budget: usize) -> Self {
        ScoreMemo {
            width,
            budget,
            ..Default::default()
        }
    }

    /// Bytes of a piece: room for at least one row.
    fn piece_bytes(&self) -> usize {
        PIECE_BYTES.max(8 * self.width)
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
        self.pieces.len() * self.piece_bytes() + self.len() * ENTRY_BYTES + self.slots.len() * 8
    }

    /// Whether a row of `width` cells could ever be held.
    pub fn takes(&self, width: usize) -> bool {
        width == self.width
            && width > 0
            && self.budget >= self.piece_bytes() + ENTRY_BYTES + FIRST_SLOTS * 8
    }

    /// Entry `e`'s stored cells.
    #[inline]
    fn stored(&self, e: usize) -> &[u8] {
        let loc = self.locs[e];
        let (p, at) = ((loc >> 32) as usize, (loc & (SMALL - 1)) as usize);
        let len = if loc & SMALL != 0 {
            self.width
        } else {
            8 * self.width
        };
        &self.pieces[p][at..at + len]
    }

    /// The scores held for rows `row(i)` (whose `cells_hash` is
    /// `hashes[i]`), NaN where none is held or it is pending. The lookups
    /// overlap their cache misses (`prefetch_ahead`).
    pub fn get_many<'a>(&self, hashes: &[u64], row: impl Fn(usize) -> &'a [u64]) -> Vec<f64> {
        let mut enc = Vec::new();
        hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                self.prefetch_ahead(hashes, i);
                encode(row(i), &mut enc);
                self.find(h, &enc).map_or(f64::NAN, |e| self.score(e))
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
        let mut enc = std::mem::take(&mut self.enc);
        let small = encode(row, &mut enc);
        let placed = self.place_encoded(hash, &enc, small, n);
        self.enc = enc;
        placed
    }

    fn place_encoded(&mut self, hash: u64, enc: &[u8], small: bool, n: usize) -> Placed {
        if let Some(e) = self.find(hash, enc) {
            return Placed::Held(e);
        }
        // The table stays at most half full; a new piece when the last has
        // no room for the row.
        let slots = if 2 * (n + 1) > self.slots.len() {
            (2 * self.slots.len()).max(FIRST_SLOTS)
        } else {
            self.slots.len()
        };
        let piece = self.piece_bytes();
        let fits = self
            .pieces
            .last()
            .is_some_and(|p| p.len() + enc.len() <= piece);
        let pieces = self.pieces.len() + usize::from(!fits);
        let need = pieces * piece + (n + 1) * ENTRY_BYTES + slots * 8;
        if need > self.budget || n >= u32::MAX as usize - 1 || pieces > u32::MAX as usize {
            self.full = true;
            return Placed::Refused;
        }
        let mask = slots - 1;
        let mut i = (hash >> 32) as usize & mask;
        if slots != self.slots.len() {
            self.grow(slots);
        }
        for _ in 0..MAX_PROBES {
            if self.slots[i] == 0 {
                self.slots[i] = (hash << 32) | (n as u64 + 1);
                if !fits {
                    self.pieces.push(Vec::with_capacity(piece));
                }
                let p = self.pieces.len() - 1;
                let at = self.pieces[p].len();
                self.pieces[p].extend_from_slice(enc);
                self.locs
                    .push(((p as u64) << 32) | at as u64 | if small { SMALL } else { 0 });
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

    /// Give entry `e` its score (nothing for an entry not held, such as the
    /// `u32::MAX` of a refused row).
    pub fn set(&mut self, e: u32, score: f64) {
        if let Some(v) = self.scores.get_mut(e as usize) {
            *v = score;
        }
    }

    /// Whether a row was refused for the budget.
    pub fn full(&self) -> bool {
        self.full
    }

    /// The entry holding the row whose stored cells are `enc`, if any.
    fn find(&self, hash: u64, enc: &[u8]) -> Option<u32> {
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
                if same_bytes(self.stored(e as usize), enc) {
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
                let loc = self.locs[(slot as u32 - 1) as usize];
                if let Some(b) = self.pieces[(loc >> 32) as usize].get((loc & (SMALL - 1)) as usize)
                {
                    prefetch(b);
                }
            }
        }
    }

    /// `size` slots, every held row placed again.
    fn grow(&mut self, size: usize) {
        // Zeros written, not a zeroed allocation: the placing below reads a
        // slot before writing it, and a page first read from fresh zeroed
        // memory faults again on its first write (flushing every thread's
        // view of it), where one written first faults once.
        #[allow(clippy::slow_vector_initialization)]
        let mut fresh = Vec::with_capacity(size);
        fresh.resize(size, 0);
        let old = std::mem::replace(&mut self.slots, fresh);
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

/// Ask for the cache line holding `v`.
#[inline(always)]
fn prefetch<T>(v: &T) {
    crate::kernels::prefetch((v as *const T).cast(), 1);
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
        let budget = PIECE_BYTES + 1000 * ENTRY_BYTES + 2048 * 8;
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
    fn stored_forms_tell_every_pair_of_rows_apart() {
        use crate::schema::Value;
        let n = |x: f64| Value::Num(x);
        // Byte-form rows and 8-byte ones, rows differing in one cell by
        // -0.0, by a NULL against -128 or 128, by a fraction, by NaN.
        let rows = vec![
            vec![n(0.0), n(1.0), Value::Null],
            vec![n(-0.0), n(1.0), Value::Null],
            vec![n(0.0), n(1.0), n(-128.0)],
            vec![n(0.0), n(1.0), n(128.0)],
            vec![n(0.0), n(1.0), n(127.0)],
            vec![n(0.0), n(1.0), n(-127.0)],
            vec![n(0.0), n(1.0 + f64::EPSILON), Value::Null],
            vec![n(0.0), n(1.0), n(f64::NAN)],
            vec![n(0.5), n(1.0), Value::Null],
        ];
        let batch = crate::Rows::from_rows(3, &rows).unwrap_or_else(|e| panic!("{e}"));
        let mut m = ScoreMemo::new(3, 1 << 24);
        let mut small = Vec::new();
        for r in 0..rows.len() {
            let cells = batch.cells_of(r);
            let mut enc = Vec::new();
            small.push(encode(cells, &mut enc));
            let Placed::New(e) = m.place(cells_hash(cells), cells) else {
                panic!("row {r} is new")
            };
            m.set(e, r as f64);
        }
        assert_eq!(
            small,
            [true, false, false, false, true, true, false, false, false]
        );
        // Each row finds itself, and only itself.
        for r in 0..rows.len() {
            let cells = batch.cells_of(r);
            assert_eq!(m.place(cells_hash(cells), cells), Placed::Held(r as u32));
            let got = m.get_many(&[cells_hash(cells)], |_| cells);
            assert_eq!(got, [r as f64]);
        }
        // One piece holds both forms (3 and 24 bytes a row).
        assert_eq!(m.pieces.len(), 1);
        assert_eq!(m.pieces[0].len(), 3 * 3 + 6 * 24);
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
