//! A batch of rows stored compactly for the scoring pipeline: one 8-byte cell
//! a value (a number's bits; NULL and text as tagged NaNs, the texts end to
//! end in one buffer), a third of a `Value`'s 24 bytes and no allocation a
//! row. A scan's rows in flight then touch a third of the memory: the first
//! scan of a session pays a page fault for every 4 KB it touches first.

use crate::error::{CoreError, Result};
use crate::schema::Value;
use std::borrow::Cow;

/// The top 16 bits of a tagged cell: negative quiet NaNs with a payload, which
/// no stored number has (every NaN is stored as `NAN_BITS`).
const TAG_NULL: u64 = 0xFFF9;
const TAG_TEXT: u64 = 0xFFFA;
const TAG_SHIFT: u32 = 48;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
/// A NULL's cell.
pub(crate) const NULL_CELL: u64 = TAG_NULL << TAG_SHIFT;
/// The one NaN a number cell holds: scoring reads every NaN alike (as a
/// value of its own from model format 6 on, as missing before).
const NAN_BITS: u64 = 0x7FF8_0000_0000_0000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    width: usize,
    n: usize,
    cells: Vec<u64>,
    /// Text values end to end, and each one's byte range in it.
    text: String,
    spans: Vec<(usize, usize)>,
}

impl Rows {
    /// No rows of `width` values, with room for `rows` of them.
    pub fn with_capacity(width: usize, rows: usize) -> Self {
        Rows {
            width,
            n: 0,
            cells: Vec::with_capacity(width * rows),
            text: String::new(),
            spans: Vec::new(),
        }
    }

    /// The rows of `rows`, each of `width` values.
    pub fn from_rows(width: usize, rows: &[Vec<Value<'_>>]) -> Result<Self> {
        let mut out = Self::with_capacity(width, rows.len());
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

    /// Empty, keeping the buffers (and the width).
    pub fn clear(&mut self) {
        self.n = 0;
        self.cells.clear();
        self.text.clear();
        self.spans.clear();
    }

    /// Append one row; a row of another width is refused and nothing is added.
    pub fn push_row<'a, 'b: 'a>(
        &mut self,
        row: impl IntoIterator<Item = &'a Value<'b>>,
    ) -> Result<()> {
        let (start, texts, spans) = (self.cells.len(), self.text.len(), self.spans.len());
        for v in row {
            let cell = match v {
                Value::Null => number_cell(None),
                Value::Num(x) => number_cell(Some(*x)),
                Value::Text(t) => {
                    let i = self.spans.len() as u64;
                    let at = self.text.len();
                    self.text.push_str(t);
                    self.spans.push((at, self.text.len()));
                    (TAG_TEXT << TAG_SHIFT) | (i & PAYLOAD)
                }
            };
            self.cells.push(cell);
        }
        self.close_row(start, texts, spans)
    }

    /// Append one row of numbers (None for NULL): what `push_row` makes of
    /// the same values, without building them. A row of another width is
    /// refused and nothing is added.
    pub fn push_numbers(&mut self, row: impl IntoIterator<Item = Option<f64>>) -> Result<()> {
        let (start, texts, spans) = (self.cells.len(), self.text.len(), self.spans.len());
        self.cells.extend(row.into_iter().map(number_cell));
        self.close_row(start, texts, spans)
    }

    /// Count the row just appended from cell `start` (and text `texts`, span
    /// `spans`) on, or take it back whole if it is not `width` cells.
    fn close_row(&mut self, start: usize, texts: usize, spans: usize) -> Result<()> {
        let got = self.cells.len() - start;
        if got != self.width || self.spans.len() as u64 > PAYLOAD {
            self.cells.truncate(start);
            self.text.truncate(texts);
            self.spans.truncate(spans);
            return Err(CoreError::RowMismatch(format!(
                "expected {} values, got {got}",
                self.width
            )));
        }
        self.n += 1;
        Ok(())
    }

    #[inline]
    fn value_of(&self, cell: u64) -> Value<'_> {
        match cell >> TAG_SHIFT {
            TAG_NULL => Value::Null,
            TAG_TEXT => {
                let (a, b) = self.spans[(cell & PAYLOAD) as usize];
                Value::Text(Cow::Borrowed(&self.text[a..b]))
            }
            _ => Value::Num(f64::from_bits(cell)),
        }
    }

    /// Row `r`'s values (text borrowed from `self`).
    #[inline]
    pub fn row_values(&self, r: usize) -> impl ExactSizeIterator<Item = Value<'_>> {
        self.cells[r * self.width..(r + 1) * self.width]
            .iter()
            .map(|&c| self.value_of(c))
    }

    /// Whether equal cells mean equal rows: no text (a text cell points
    /// into this batch's text), and some columns.
    pub(crate) fn hashable(&self) -> bool {
        self.width > 0 && self.spans.is_empty() && self.n <= u32::MAX as usize
    }

    /// Row `r`'s cells: equal cells, equal values (for rows without text).
    #[inline]
    pub(crate) fn cells_of(&self, r: usize) -> &[u64] {
        &self.cells[r * self.width..(r + 1) * self.width]
    }

    /// Row `r` with its values owned.
    pub fn row_owned(&self, r: usize) -> Vec<Value<'static>> {
        self.row_values(r).map(Value::into_owned).collect()
    }
}

/// Slots `Rows::distinct` looks at for one row before giving it a group of
/// its own (a group only saves work; a row alone is always right).
const MAX_PROBES: usize = 32;

/// A batch's distinct rows: `firsts` holds the first row of each group of
/// rows equal cell for cell, in row order, `hashes` its cells' hash
/// (`cells_hash`), and `group[r]` row r's group.
#[derive(Clone, Debug, PartialEq)]
pub struct Distinct {
    pub firsts: Vec<u32>,
    pub hashes: Vec<u64>,
    pub group: Vec<u32>,
}

/// A number's cell (None for NULL); every NaN is `NAN_BITS`.
#[inline]
fn number_cell(v: Option<f64>) -> u64 {
    match v {
        None => NULL_CELL,
        Some(x) if x.is_nan() => NAN_BITS,
        Some(x) => x.to_bits(),
    }
}

/// Whether two rows' cells are equal: a branch-free pass (rows are short;
/// a library `memcmp` call costs more than the compare).
#[inline]
fn same_cells(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u64, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A multiplicative hash of a row's cells.
#[inline]
pub(crate) fn cells_hash(row: &[u64]) -> u64 {
    row.iter().fold(0u64, |h, &c| {
        (h.rotate_left(5) ^ c).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
    })
}

impl Rows {
    /// The distinct rows (equal bits in every cell: -0.0 is not 0.0, and every
    /// NaN is one), or None when the rows hold text (a text cell points into
    /// this batch's text, so equal cells would not mean equal text) or have
    /// no columns. Open addressing over a multiplicative hash of the cells.
    pub fn distinct(&self) -> Option<Distinct> {
        self.distinct_probing(MAX_PROBES)
    }

    fn distinct_probing(&self, max_probes: usize) -> Option<Distinct> {
        let w = self.width;
        if !self.hashable() {
            return None;
        }
        let slots = (2 * self.n).next_power_of_two().max(16);
        let mut table = vec![u32::MAX; slots];
        let (mut firsts, mut hashes, mut group) =
            (Vec::new(), Vec::new(), Vec::with_capacity(self.n));
        for (r, row) in self.cells.chunks_exact(w).enumerate() {
            let h = cells_hash(row);
            let mut i = (h >> 32) as usize & (slots - 1);
            for probe in 0.. {
                let g = table[i];
                // A free slot, or a run of colliding rows too long to follow
                // (crafted rows cannot make a fetch quadratic): a new group.
                if g == u32::MAX || probe == max_probes {
                    if g == u32::MAX {
                        table[i] = firsts.len() as u32;
                    }
                    group.push(firsts.len() as u32);
                    firsts.push(r as u32);
                    hashes.push(h);
                    break;
                }
                let f = firsts[g as usize] as usize;
                if same_cells(&self.cells[f * w..(f + 1) * w], row) {
                    group.push(g);
                    break;
                }
                i = (i + 1) & (slots - 1);
            }
        }
        Some(Distinct {
            firsts,
            hashes,
            group,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::schema::text as t;

    #[test]
    fn values_come_back_as_pushed() {
        let rows = vec![
            vec![Value::Num(1.5), Value::Null, t("a")],
            vec![Value::Num(-0.0), t(""), t("ünï")],
            vec![
                Value::Num(f64::INFINITY),
                Value::Num(f64::NEG_INFINITY),
                Value::Null,
            ],
            vec![Value::Num(f64::MAX), Value::Num(f64::MIN_POSITIVE), t("a")],
        ];
        let r = Rows::from_rows(3, &rows).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.len(), 4);
        for (i, row) in rows.iter().enumerate() {
            let back = r.row_owned(i);
            // Bits, not just values: -0.0 stays -0.0.
            for (a, b) in back.iter().zip(row) {
                match (a, b) {
                    (Value::Num(x), Value::Num(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                    _ => assert_eq!(a, b),
                }
            }
        }
        let out: Vec<Value<'_>> = (1..3).flat_map(|i| r.row_values(i)).collect();
        assert_eq!(out.len(), 6);
        assert_eq!(out[2], Value::Text(Cow::Borrowed("ünï")));
    }

    #[test]
    fn every_nan_is_one_nan_number() {
        let odd = f64::from_bits(0xFFF9_0000_0000_0001); // a NULL tag's bits
        let rows = vec![vec![Value::Num(odd), Value::Num(-f64::NAN)]];
        let r = Rows::from_rows(2, &rows).unwrap_or_else(|e| panic!("{e}"));
        for v in r.row_owned(0) {
            // A number (not the NULL its bits look like), NaN, the one NaN.
            assert!(matches!(v, Value::Num(x) if x.to_bits() == NAN_BITS));
            assert_eq!(v.as_f64(), None);
        }
    }

    #[test]
    fn distinct_groups_rows_equal_cell_for_cell() {
        let n = |x: f64| Value::Num(x);
        let rows = vec![
            vec![n(1.0), Value::Null],
            vec![n(2.0), n(0.0)],
            vec![n(1.0), Value::Null],
            vec![n(2.0), n(-0.0)],
            vec![n(f64::NAN), n(0.0)],
            vec![n(-f64::NAN), n(0.0)],
            vec![n(2.0), n(0.0)],
        ];
        let r = Rows::from_rows(2, &rows).unwrap_or_else(|e| panic!("{e}"));
        let d = r.distinct().unwrap_or_else(|| panic!("numbers only"));
        assert_eq!(d.firsts, vec![0, 1, 3, 4]);
        assert_eq!(d.group, vec![0, 1, 0, 2, 3, 3, 1]);
        // Many rows, few distinct: every row's group holds rows equal to it.
        let many: Vec<Vec<Value<'static>>> = (0..5000)
            .map(|i| vec![n((i % 37) as f64), n((i % 5) as f64)])
            .collect();
        let r = Rows::from_rows(2, &many).unwrap_or_else(|e| panic!("{e}"));
        let d = r.distinct().unwrap_or_else(|| panic!("numbers only"));
        assert_eq!(d.firsts.len(), 185);
        for (i, &g) in d.group.iter().enumerate() {
            assert_eq!(r.row_owned(i), r.row_owned(d.firsts[g as usize] as usize));
        }
        // However short the probing, every group holds equal rows only.
        for probes in [0, 1, 2] {
            let d = r
                .distinct_probing(probes)
                .unwrap_or_else(|| panic!("numbers only"));
            assert!(d.firsts.len() >= 185);
            for (i, &g) in d.group.iter().enumerate() {
                assert_eq!(r.row_owned(i), r.row_owned(d.firsts[g as usize] as usize));
            }
        }
        assert_eq!(r.distinct_probing(0).map(|d| d.firsts.len()), Some(5000));
        // Text: no grouping.
        let texts = Rows::from_rows(1, &[vec![t("a")], vec![t("a")]]);
        assert_eq!(texts.map(|r| r.distinct()), Ok(None));
    }

    #[test]
    fn numbers_push_as_their_values_do() {
        let nums = [
            Some(1.5),
            None,
            Some(f64::NAN),
            Some(-f64::NAN),
            Some(-0.0),
            Some(f64::INFINITY),
            Some(f64::from_bits(0xFFF9_0000_0000_0001)),
        ];
        let mut a = Rows::with_capacity(7, 1);
        assert!(a.push_numbers(nums).is_ok());
        let values: Vec<Value<'static>> = nums
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Num))
            .collect();
        let b = Rows::from_rows(7, &[values]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.cells, b.cells);
        assert!(a.push_numbers([Some(1.0)]).is_err());
        assert_eq!((a.len(), a.cells.len()), (1, 7));
    }

    #[test]
    fn a_row_of_another_width_is_refused_whole() {
        let mut r = Rows::with_capacity(2, 4);
        assert!(r.push_row(&[Value::Num(1.0), t("x")]).is_ok());
        let err = r.push_row(&[t("y"), t("z"), Value::Null]);
        assert!(matches!(err, Err(CoreError::RowMismatch(_))));
        assert!(r.push_row(&[t("w")]).is_err());
        assert_eq!(r.len(), 1);
        assert!(r.push_row(&[Value::Null, t("v")]).is_ok());
        assert_eq!(r.row_owned(1), vec![Value::Null, t("v")]);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.width(), 2);
    }
}
