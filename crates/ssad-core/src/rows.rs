//! A batch of rows stored compactly for the scoring pipeline: one 8-byte cell
//! a value (a number's bits; NULL and text as tagged NaNs, the texts end to
//! end in one buffer), a third of a `Value`'s 24 bytes and no allocation a
//! row. A scan's rows in flight then touch a third of the memory: the first
//! scan of a session pays a page fault for every 4 KB it touches first.

use crate::error::{CoreError, Result};
use crate::schema::Value;
use std::borrow::Cow;
use std::ops::Range;

/// The top 16 bits of a tagged cell: negative quiet NaNs with a payload, which
/// no stored number has (every NaN is stored as `NAN_BITS`).
const TAG_NULL: u64 = 0xFFF9;
const TAG_TEXT: u64 = 0xFFFA;
const TAG_SHIFT: u32 = 48;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
/// The one NaN a number cell holds: scoring reads every NaN as missing.
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
                Value::Null => TAG_NULL << TAG_SHIFT,
                Value::Num(x) if x.is_nan() => NAN_BITS,
                Value::Num(x) => x.to_bits(),
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

    /// The values of rows `range`, end to end (text borrowed from `self`).
    pub fn values_into<'a>(&'a self, range: Range<usize>, out: &mut Vec<Value<'a>>) {
        out.clear();
        let cells = &self.cells[range.start * self.width..range.end * self.width];
        out.extend(cells.iter().map(|&c| self.value_of(c)));
    }

    /// Row `r`'s values (text borrowed from `self`).
    #[inline]
    pub fn row_values(&self, r: usize) -> impl ExactSizeIterator<Item = Value<'_>> {
        self.cells[r * self.width..(r + 1) * self.width]
            .iter()
            .map(|&c| self.value_of(c))
    }

    /// Row `r` with its values owned.
    pub fn row_owned(&self, r: usize) -> Vec<Value<'static>> {
        self.cells[r * self.width..(r + 1) * self.width]
            .iter()
            .map(|&c| self.value_of(c).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value<'static> {
        Value::Text(Cow::Owned(s.to_string()))
    }

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
        let mut out = Vec::new();
        r.values_into(1..3, &mut out);
        assert_eq!(out.len(), 6);
        assert_eq!(out[2], Value::Text(Cow::Borrowed("ünï")));
    }

    #[test]
    fn every_nan_is_a_number_read_as_missing() {
        let odd = f64::from_bits(0xFFF9_0000_0000_0001); // a NULL tag's bits
        let rows = vec![vec![Value::Num(odd), Value::Num(-f64::NAN)]];
        let r = Rows::from_rows(2, &rows).unwrap_or_else(|e| panic!("{e}"));
        for v in r.row_owned(0) {
            assert!(matches!(v, Value::Num(x) if x.is_nan()));
            assert_eq!(v.as_f64(), None);
        }
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
