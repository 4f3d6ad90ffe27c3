//! The training sample, stored compactly: rows of cells end to end, a cell
//! of a column that has held only NULLs and numbers that are exactly a
//! 4-byte float (a `real` or `smallint` column's) in 4 bytes, any other cell
//! in 8 (a number's bits; NULL and text as tagged NaNs, as in `Rows`). Each
//! distinct text is held once and counted by the cells holding it, so a
//! category column costs 8 bytes a row, however long its values. A `Value`
//! is 24 bytes and a row of them a vector of its own: 200 `real` columns
//! take 800 bytes a row here, 4,824 as `Vec<Value>`.
//!
//! `SampleReservoir` draws a uniform sample of a stream into it, with the
//! same draws as `reservoir::Reservoir` (the same rows, in the same slots).

use crate::error::{CoreError, Result};
use crate::reservoir::{Draws, Slot};
use crate::schema::Value;
use std::borrow::{Borrow, Cow};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::Hasher;

/// A narrow cell's NULL: a NaN no number is stored as (every NaN is `NARROW_NAN`).
const NARROW_NULL: u32 = 0xFFFF_FFFF;
const NARROW_NAN: u32 = 0x7FC0_0000;
/// Wide cells: the top 16 bits of NULL and text cells are negative quiet
/// NaNs with a payload, which no stored number has (every NaN is `WIDE_NAN`).
const TAG_SHIFT: u32 = 48;
const TAG_NULL: u64 = 0xFFF9;
const TAG_TEXT: u64 = 0xFFFA;
const WIDE_NAN: u64 = 0x7FF8_0000_0000_0000;

/// The narrow cell of `v`, when it has one.
#[inline]
fn narrow(v: &Value<'_>) -> Option<u32> {
    match v {
        Value::Null => Some(NARROW_NULL),
        Value::Num(x) if x.is_nan() => Some(NARROW_NAN),
        Value::Num(x) => {
            let f = *x as f32;
            ((f as f64).to_bits() == x.to_bits()).then_some(f.to_bits())
        }
        Value::Text(_) => None,
    }
}

#[inline]
fn narrow_value(cell: u32) -> Value<'static> {
    match cell {
        NARROW_NULL => Value::Null,
        NARROW_NAN => Value::Num(f64::from_bits(WIDE_NAN)),
        c => Value::Num(f32::from_bits(c) as f64),
    }
}

/// A narrow cell as the wide cell of the same value.
#[inline]
fn widened(cell: u32) -> u64 {
    match cell {
        NARROW_NULL => TAG_NULL << TAG_SHIFT,
        NARROW_NAN => WIDE_NAN,
        c => (f32::from_bits(c) as f64).to_bits(),
    }
}

/// A distinct text: where it is in the arena, and the cells holding it.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    start: u64,
    len: u32,
    /// 0: a free id.
    refs: u32,
}

/// Dead arena bytes tolerated besides half the live ones before `Texts::compact`.
const DEAD_SLACK: usize = 1 << 16;

/// Distinct texts, each held once (end to end in an arena) with the number
/// of cells holding it. A text no cell holds any more leaves dead bytes in
/// the arena until they pass half the live ones: the arena is then compacted
/// in place, so it holds at most 1.5 times its live texts (plus 64 kB).
#[derive(Clone, Debug, Default)]
struct Texts {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// A 32-bit hash of each text to the id holding it. A text whose hash
    /// another text holds gets an id of its own, shared by no later cell.
    by_hash: HashMap<u32, u32>,
    live: usize,
    dead: usize,
}

fn hash(s: &[u8]) -> u32 {
    let mut h = DefaultHasher::new();
    h.write(s);
    h.finish() as u32
}

impl Texts {
    #[inline]
    fn bytes_of(&self, e: Entry) -> &[u8] {
        &self.arena[e.start as usize..e.start as usize + e.len as usize]
    }

    /// The id of `s`, counting one more cell holding it.
    fn acquire(&mut self, s: &str) -> Result<u32> {
        let h = hash(s.as_bytes());
        if let Some(&id) = self.by_hash.get(&h) {
            let e = self.entries[id as usize];
            if e.refs > 0 && e.refs < u32::MAX && self.bytes_of(e) == s.as_bytes() {
                self.entries[id as usize].refs += 1;
                return Ok(id);
            }
        }
        let len = u32::try_from(s.len())
            .map_err(|_| CoreError::Internal(format!("a text of {} bytes", s.len())))?;
        self.arena
            .try_reserve(s.len())
            .map_err(|_| out_of_memory_bytes(self.arena.len() + s.len()))?;
        let e = Entry {
            start: self.arena.len() as u64,
            len,
            refs: 1,
        };
        self.arena.extend_from_slice(s.as_bytes());
        self.live += s.len();
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = e;
                id
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as u32
            }
        };
        self.by_hash.insert(h, id);
        Ok(id)
    }

    /// One cell fewer holds text `id`; the last one frees it.
    fn release(&mut self, id: u32) {
        let e = &mut self.entries[id as usize];
        if e.refs == 0 {
            return;
        }
        e.refs -= 1;
        if e.refs > 0 {
            return;
        }
        let e = *e;
        let h = hash(self.bytes_of(e));
        if self.by_hash.get(&h) == Some(&id) {
            self.by_hash.remove(&h);
        }
        self.free.push(id);
        self.live -= e.len as usize;
        self.dead += e.len as usize;
        if self.dead > self.live / 2 + DEAD_SLACK {
            self.compact();
        }
    }

    /// Move the live texts to the front of the arena, in arena order (each
    /// moves down or stays), and give back the rest.
    fn compact(&mut self) {
        let mut ids: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&i| self.entries[i as usize].refs > 0)
            .collect();
        ids.sort_unstable_by_key(|&i| self.entries[i as usize].start);
        let mut at = 0usize;
        for i in ids {
            let e = &mut self.entries[i as usize];
            let (from, len) = (e.start as usize, e.len as usize);
            self.arena.copy_within(from..from + len, at);
            e.start = at as u64;
            at += len;
        }
        self.arena.truncate(at);
        self.arena.shrink_to_fit();
        self.dead = 0;
    }

    #[inline]
    fn get(&self, id: u32) -> &str {
        std::str::from_utf8(self.bytes_of(self.entries[id as usize]))
            .unwrap_or_else(|_| unreachable!("the arena holds whole texts"))
    }

    /// Distinct texts held.
    #[cfg(test)]
    fn distinct(&self) -> usize {
        self.entries.iter().filter(|e| e.refs > 0).count()
    }

    fn bytes(&self) -> usize {
        self.arena.len()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.free.capacity() * 4
            // hashbrown: a control byte and the (key, value) pair a bucket.
            + self.by_hash.capacity() * (1 + std::mem::size_of::<(u32, u32)>())
    }
}

/// Training rows, stored compactly (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub struct Sample {
    width: usize,
    n: usize,
    /// Rows end to end in 4-byte units: a narrow cell is one, a wide cell
    /// two (low half first).
    units: Vec<u32>,
    row_units: usize,
    /// Per column: its first unit in a row, and whether its cells are wide.
    offset: Vec<usize>,
    wide: Vec<bool>,
    texts: Texts,
}

impl Sample {
    /// No rows of `width` values. Every column starts narrow and is widened
    /// (every row rewritten) when a value needs 8 bytes: a column of
    /// `double precision` at its first row, as a rule.
    pub fn new(width: usize) -> Self {
        Sample {
            width,
            n: 0,
            units: Vec::new(),
            row_units: width,
            offset: (0..width).collect(),
            wide: vec![false; width],
            texts: Texts::default(),
        }
    }

    /// The rows of `rows`, each of `width` values.
    pub fn from_rows(width: usize, rows: &[Vec<Value<'_>>]) -> Result<Self> {
        let mut out = Self::new(width);
        for r in rows {
            out.push_row(r)?;
        }
        Ok(out)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Columns whose cells take 8 bytes.
    pub fn wide_columns(&self) -> usize {
        self.wide.iter().filter(|&&w| w).count()
    }

    /// Bytes the sample holds: its cells (as many as its rows need; growing
    /// reserves address space beyond them that is not touched, so not
    /// resident), and its texts with their bookkeeping.
    pub fn bytes(&self) -> usize {
        self.units.len() * 4 + self.texts.bytes()
    }

    /// Bytes of the distinct texts held, with their bookkeeping.
    pub fn text_bytes(&self) -> usize {
        self.texts.bytes()
    }

    /// Append one row; a row of another width is refused and nothing is added.
    pub fn push_row<'b, V: Borrow<Value<'b>>>(
        &mut self,
        row: impl IntoIterator<Item = V>,
    ) -> Result<()> {
        self.write_row(None, row)
    }

    /// Put a row in place of row `r`.
    pub fn set_row<'b, V: Borrow<Value<'b>>>(
        &mut self,
        r: usize,
        row: impl IntoIterator<Item = V>,
    ) -> Result<()> {
        if r >= self.n {
            return Err(CoreError::Internal(format!(
                "row {r} of a sample of {} rows",
                self.n
            )));
        }
        self.write_row(Some(r), row)
    }

    fn write_row<'b, V: Borrow<Value<'b>>>(
        &mut self,
        at: Option<usize>,
        row: impl IntoIterator<Item = V>,
    ) -> Result<()> {
        let values: Vec<V> = row.into_iter().collect();
        if values.len() != self.width {
            return Err(CoreError::RowMismatch(format!(
                "expected {} values, got {}",
                self.width,
                values.len()
            )));
        }
        let widen: Vec<usize> = (0..self.width)
            .filter(|&c| !self.wide[c] && narrow(values[c].borrow()).is_none())
            .collect();
        if !widen.is_empty() {
            self.widen(&widen)?;
        }
        // The row's texts first: on an error nothing has changed.
        let mut ids = Vec::new();
        for v in &values {
            if let Value::Text(t) = v.borrow() {
                match self.texts.acquire(t) {
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        ids.into_iter().for_each(|id| self.texts.release(id));
                        return Err(e);
                    }
                }
            }
        }
        let r = match at {
            Some(r) => {
                self.release_row(r);
                r
            }
            None => {
                if self.units.try_reserve(self.row_units).is_err() {
                    ids.into_iter().for_each(|id| self.texts.release(id));
                    return Err(out_of_memory((self.n + 1) * self.row_units));
                }
                self.units.resize((self.n + 1) * self.row_units, 0);
                self.n += 1;
                self.n - 1
            }
        };
        let base = r * self.row_units;
        let mut ids = ids.into_iter();
        for (c, v) in values.iter().enumerate() {
            let at = base + self.offset[c];
            let v = v.borrow();
            if !self.wide[c] {
                self.units[at] = narrow(v).unwrap_or_else(|| unreachable!("widened above"));
                continue;
            }
            let cell = match v {
                Value::Null => TAG_NULL << TAG_SHIFT,
                Value::Num(x) if x.is_nan() => WIDE_NAN,
                Value::Num(x) => x.to_bits(),
                Value::Text(_) => {
                    let id = ids.next().unwrap_or_else(|| unreachable!("acquired above"));
                    (TAG_TEXT << TAG_SHIFT) | id as u64
                }
            };
            self.units[at] = cell as u32;
            self.units[at + 1] = (cell >> 32) as u32;
        }
        Ok(())
    }

    /// Make the narrow columns `cols` wide: every row is rewritten in place,
    /// from the last to the first (a row only moves to higher units).
    fn widen(&mut self, cols: &[usize]) -> Result<()> {
        let mut wide = self.wide.clone();
        for &c in cols {
            wide[c] = true;
        }
        let mut offset = Vec::with_capacity(self.width);
        let mut row_units = 0;
        for &w in &wide {
            offset.push(row_units);
            row_units += 1 + usize::from(w);
        }
        self.units
            .try_reserve(self.n * (row_units - self.row_units))
            .map_err(|_| out_of_memory(self.n * row_units))?;
        let old_units = std::mem::replace(&mut self.row_units, row_units);
        let old_offset = std::mem::replace(&mut self.offset, offset);
        let old_wide = std::mem::replace(&mut self.wide, wide);
        self.units.resize(self.n * self.row_units, 0);
        for r in (0..self.n).rev() {
            let (src, dst) = (r * old_units, r * self.row_units);
            for c in (0..self.width).rev() {
                let (s, t) = (src + old_offset[c], dst + self.offset[c]);
                if old_wide[c] {
                    self.units.copy_within(s..s + 2, t);
                } else if self.wide[c] {
                    let cell = widened(self.units[s]);
                    self.units[t] = cell as u32;
                    self.units[t + 1] = (cell >> 32) as u32;
                } else {
                    self.units[t] = self.units[s];
                }
            }
        }
        Ok(())
    }

    /// Let go of the texts row `r` holds.
    fn release_row(&mut self, r: usize) {
        for c in 0..self.width {
            if let Some(id) = self.text_id(r, c) {
                self.texts.release(id);
            }
        }
    }

    #[inline]
    fn wide_cell(&self, at: usize) -> u64 {
        self.units[at] as u64 | (self.units[at + 1] as u64) << 32
    }

    fn text_id(&self, r: usize, c: usize) -> Option<u32> {
        if !self.wide[c] {
            return None;
        }
        let cell = self.wide_cell(r * self.row_units + self.offset[c]);
        (cell >> TAG_SHIFT == TAG_TEXT).then_some(cell as u32)
    }

    /// The value of row `r`, column `c` (text borrowed from the sample).
    #[inline]
    pub fn value(&self, r: usize, c: usize) -> Value<'_> {
        let at = r * self.row_units + self.offset[c];
        if !self.wide[c] {
            return narrow_value(self.units[at]);
        }
        let cell = self.wide_cell(at);
        match cell >> TAG_SHIFT {
            TAG_NULL => Value::Null,
            TAG_TEXT => Value::Text(Cow::Borrowed(self.texts.get(cell as u32))),
            _ => Value::Num(f64::from_bits(cell)),
        }
    }

    /// The cell of row `r`, column `c` as bits: within a column, equal bits
    /// are equal values (equal values may have other bits).
    #[inline]
    pub fn cell_bits(&self, r: usize, c: usize) -> u64 {
        let at = r * self.row_units + self.offset[c];
        if self.wide[c] {
            self.wide_cell(at)
        } else {
            self.units[at] as u64
        }
    }

    /// Row `r`'s values.
    pub fn row_values(&self, r: usize) -> impl ExactSizeIterator<Item = Value<'_>> {
        (0..self.width).map(move |c| self.value(r, c))
    }

    /// Drop the rows at `rows` (ascending); the others keep their order.
    pub fn remove_rows(&mut self, rows: &[usize]) {
        if rows.is_empty() {
            return;
        }
        for &r in rows {
            self.release_row(r);
        }
        let ru = self.row_units;
        let (mut next, mut to) = (rows.iter().peekable(), 0);
        for r in 0..self.n {
            if next.next_if_eq(&&r).is_some() {
                continue;
            }
            if to != r {
                self.units.copy_within(r * ru..(r + 1) * ru, to * ru);
            }
            to += 1;
        }
        self.n = to;
        self.units.truncate(to * ru);
        self.units.shrink_to_fit();
    }
}

/// The error of an allocation of `units` cells that failed.
fn out_of_memory(units: usize) -> CoreError {
    out_of_memory_bytes(units * 4)
}

fn out_of_memory_bytes(bytes: usize) -> CoreError {
    CoreError::OutOfMemory(format!(
        "cannot allocate {} MB for the training sample",
        bytes.div_ceil(1 << 20)
    ))
}

/// A uniform sample of a stream of rows, held in a `Sample`: the rows
/// `reservoir::Reservoir` keeps for the same seed and cap, in the same order.
pub struct SampleReservoir {
    draws: Draws,
    sample: Sample,
}

impl SampleReservoir {
    pub fn new(width: usize, cap: usize, seed: u64) -> Self {
        SampleReservoir {
            draws: Draws::new(cap, seed),
            sample: Sample::new(width),
        }
    }

    /// Offer the row `make` builds (built only when it is kept).
    pub fn offer_with<'b, V: Borrow<Value<'b>>, I: IntoIterator<Item = V>>(
        &mut self,
        make: impl FnOnce() -> I,
    ) -> Result<()> {
        match self.draws.slot() {
            Slot::Append => self.sample.push_row(make()),
            Slot::Replace(j) => self.sample.set_row(j, make()),
            Slot::Skip => Ok(()),
        }
    }

    /// Keep at most `cap` rows from now on, dropping random members
    /// (`reservoir::Draws::shrink`): still a uniform sample of the stream.
    pub fn shrink(&mut self, cap: usize) {
        let drop = self.draws.shrink(cap);
        self.sample.remove_rows(&drop);
    }

    /// Rows offered so far.
    pub fn seen(&self) -> u64 {
        self.draws.seen()
    }

    /// The most rows kept.
    pub fn cap(&self) -> usize {
        self.draws.cap()
    }

    pub fn sample(&self) -> &Sample {
        &self.sample
    }

    pub fn into_sample(self) -> Sample {
        self.sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservoir::Reservoir;
    use crate::schema::text as t;

    fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
        match (a, b) {
            (Value::Num(x), Value::Num(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn assert_rows(s: &Sample, rows: &[Vec<Value<'_>>]) {
        assert_eq!(s.len(), rows.len());
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!(
                    same(&s.value(r, c), v),
                    "row {r} col {c}: {:?} vs {v:?}",
                    s.value(r, c)
                );
            }
            assert_eq!(s.row_values(r).len(), row.len());
        }
    }

    #[test]
    fn values_come_back_as_pushed_bit_for_bit() {
        let n = Value::Num;
        let rows = vec![
            vec![n(1.5), Value::Null, t("a"), n(0.25)],
            vec![n(-0.0), t(""), t("ünï"), n(f64::INFINITY)],
            vec![
                n(f64::NEG_INFINITY),
                n(f64::MAX),
                Value::Null,
                n(16_777_216.0),
            ],
            vec![n(f64::MIN_POSITIVE), n(0.1), t("a"), n(-3.0)],
            vec![n(f64::NAN), n(-f64::NAN), n(f32::MAX as f64), Value::Null],
        ];
        let s = Sample::from_rows(4, &rows).unwrap_or_else(|e| panic!("{e}"));
        // Every NaN comes back as the one NaN; the rest bit for bit.
        let mut want = rows.clone();
        want[4][0] = n(f64::from_bits(WIDE_NAN));
        want[4][1] = n(f64::from_bits(WIDE_NAN));
        assert_rows(&s, &want);
        // Column 3 held only 4-byte floats and NULLs: still narrow.
        assert_eq!(s.wide_columns(), 3);
        assert!(!s.wide[3]);
        assert_eq!(s.units.len(), 5 * 7);
    }

    #[test]
    fn a_column_widens_when_a_value_needs_8_bytes() {
        let n = Value::Num;
        let mut s = Sample::new(3);
        let mut rows = Vec::new();
        for i in 0..50 {
            rows.push(vec![n(i as f64), Value::Null, n(-(i as f64))]);
            assert!(s.push_row(&rows[i]).is_ok());
        }
        assert_eq!(s.wide_columns(), 0);
        assert_eq!(s.bytes(), 50 * 3 * 4);
        // Column 1 widens for a text, column 2 for a double, in one row.
        rows.push(vec![n(1.0), t("x"), n(0.1)]);
        assert!(s.push_row(&rows[50]).is_ok());
        assert_eq!(s.wide_columns(), 2);
        assert_rows(&s, &rows);
        // And column 0 while replacing a row.
        rows[7] = vec![n(1e300), t("y"), Value::Null];
        assert!(s.set_row(7, &rows[7]).is_ok());
        assert_eq!(s.wide_columns(), 3);
        assert_rows(&s, &rows);
    }

    #[test]
    fn texts_are_held_once_and_freed_with_their_last_cell() {
        let mut s = Sample::new(2);
        for i in 0..100 {
            let row = [t(if i % 2 == 0 { "even" } else { "odd" }), t("x")];
            assert!(s.push_row(&row).is_ok());
        }
        assert_eq!(s.texts.distinct(), 3);
        for r in 0..100 {
            assert!(s.set_row(r, [t("z"), Value::Null]).is_ok());
        }
        assert_eq!(s.texts.distinct(), 1);
        assert_eq!(s.texts.live, 1);
        assert_eq!(s.value(99, 0), t("z"));
        s.remove_rows(&(0..100).collect::<Vec<_>>());
        assert!(s.is_empty());
        assert_eq!(s.texts.distinct(), 0);
        assert_eq!(s.texts.live, 0);
    }

    /// Texts that never repeat, replaced over and over: the arena is
    /// compacted, never more than 1.5 times the live texts (plus the slack).
    #[test]
    fn the_text_arena_is_compacted_as_texts_die() {
        let mut s = Sample::new(2);
        let text = |i: usize| t(&format!("text number {i:08} {}", "x".repeat(i % 50)));
        for i in 0..1000 {
            assert!(s.push_row([text(i), Value::Num(i as f64)]).is_ok());
        }
        let mut now: Vec<usize> = (0..1000).collect();
        for i in 1000..50_000 {
            let r = (i * 7919) % 1000;
            assert!(s.set_row(r, [text(i), Value::Num(i as f64)]).is_ok());
            now[r] = i;
            let x = &s.texts;
            assert!(x.arena.len() <= x.live + x.live / 2 + DEAD_SLACK + 100);
        }
        assert_eq!(s.texts.distinct(), 1000);
        for (r, &i) in now.iter().enumerate() {
            assert_eq!(s.value(r, 0), text(i));
            assert_eq!(s.value(r, 1), Value::Num(i as f64));
        }
        // Every id freed and reused: no more entries than texts ever live at once.
        assert!(s.texts.entries.len() <= 1001);
    }

    #[test]
    fn a_row_of_another_width_is_refused_whole() {
        let mut s = Sample::new(2);
        assert!(s.push_row([Value::Num(1.0), t("x")]).is_ok());
        let err = s.push_row([t("y"), t("z"), Value::Null]);
        assert!(matches!(err, Err(CoreError::RowMismatch(_))));
        assert!(s.set_row(0, [t("w")]).is_err());
        assert!(s.set_row(1, [t("w"), t("v")]).is_err());
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.row_values(0).collect::<Vec<_>>(),
            vec![Value::Num(1.0), t("x")]
        );
        assert_eq!(s.texts.distinct(), 1);
    }

    #[test]
    fn removing_rows_keeps_the_order_of_the_rest() {
        let rows: Vec<Vec<Value<'static>>> = (0..10)
            .map(|i| vec![Value::Num(i as f64), t(&format!("t{}", i % 3))])
            .collect();
        let mut s = Sample::from_rows(2, &rows).unwrap_or_else(|e| panic!("{e}"));
        s.remove_rows(&[0, 4, 9]);
        let kept: Vec<Vec<Value<'static>>> = [1, 2, 3, 5, 6, 7, 8]
            .iter()
            .map(|&i| rows[i].clone())
            .collect();
        assert_rows(&s, &kept);
    }

    /// The rows `Reservoir` keeps of the same stream, in the same order,
    /// shrunk or not.
    #[test]
    fn the_reservoir_keeps_what_the_generic_one_keeps() {
        let rows: Vec<Vec<Value<'static>>> = (0..3000)
            .map(|i| {
                vec![
                    Value::Num(i as f64 * 0.5),
                    if i % 7 == 0 {
                        Value::Null
                    } else {
                        t(&format!("c{}", i % 13))
                    },
                    Value::Num((i as f64).sqrt()),
                ]
            })
            .collect();
        for shrink_at in [None, Some(40), Some(1500)] {
            let mut a = Reservoir::new(100, 9);
            let mut b = SampleReservoir::new(3, 100, 9);
            for (i, row) in rows.iter().enumerate() {
                if Some(i) == shrink_at {
                    a.shrink(60);
                    b.shrink(60);
                }
                a.offer_with(|| row.clone());
                assert!(b.offer_with(|| row).is_ok());
            }
            assert_eq!(b.seen(), 3000);
            assert_rows(b.sample(), &a.into_items());
        }
    }

    /// Shrunk from 20 to 10 rows after 50 of 100: every row is kept about
    /// 10% of the time.
    #[test]
    fn a_reservoir_shrunk_mid_stream_stays_uniform() {
        let mut hits = vec![0u32; 100];
        for seed in 0..4000 {
            let mut r = SampleReservoir::new(1, 20, seed);
            for i in 0..100 {
                if i == 50 {
                    r.shrink(10);
                }
                assert!(r.offer_with(|| [Value::Num(i as f64)]).is_ok());
            }
            let s = r.into_sample();
            assert_eq!(s.len(), 10);
            for k in 0..s.len() {
                if let Value::Num(x) = s.value(k, 0) {
                    hits[x as usize] += 1;
                }
            }
        }
        for (i, h) in hits.iter().enumerate() {
            assert!((300..500).contains(h), "row {i}: {h}");
        }
    }
}
