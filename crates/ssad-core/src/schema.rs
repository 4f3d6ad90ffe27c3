//! What the model sees of a table: named columns of a few kinds, and the
//! values of one row. The glue maps SQL types onto these kinds.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Integers, floats, numeric, durations: robust-scaled real values.
    Numeric,
    /// Text, enum, boolean, derived time parts: a capped vocabulary.
    Categorical,
    /// Epoch seconds of a date or timestamp (model format 4 on): numeric,
    /// except that a time less than one training span after the training
    /// range counts as its end. Rows arriving after training are later than
    /// every training row; that alone is no evidence.
    Time,
}

impl ColumnKind {
    /// Numeric or time: a robust-scaled real value.
    pub fn is_number(self) -> bool {
        matches!(self, ColumnKind::Numeric | ColumnKind::Time)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
            ColumnKind::Time => "time",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ColumnKind::Numeric => 0,
            ColumnKind::Categorical => 1,
            ColumnKind::Time => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(ColumnKind::Numeric),
            1 => Some(ColumnKind::Categorical),
            2 => Some(ColumnKind::Time),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
}

impl ColumnSpec {
    /// `d` numeric columns named `{prefix}0`, `{prefix}1`, ...: tables built
    /// in code (tests, benchmarks, the accuracy harness).
    pub fn numbered(prefix: &str, d: usize) -> Vec<ColumnSpec> {
        (0..d)
            .map(|j| ColumnSpec {
                name: format!("{prefix}{j}"),
                kind: ColumnKind::Numeric,
            })
            .collect()
    }
}

/// One cell of a row. Text borrows when scoring and owns when sampled for training.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Num(f64),
    Text(Cow<'a, str>),
}

/// An owned text value (tests build rows with it).
#[cfg(test)]
pub(crate) fn text(s: &str) -> Value<'static> {
    Value::Text(Cow::Owned(s.to_string()))
}

impl Value<'_> {
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Num(x) => Value::Num(x),
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
        }
    }

    /// Empty `row` and keep its buffer for rows of any lifetime: collecting an
    /// emptied Vec in place reuses its allocation (same element layout), so a
    /// caller that borrows each row's text from the row itself allocates
    /// nothing per row (`tests/no_alloc.rs` checks it).
    pub fn recycle(mut row: Vec<Value<'_>>) -> Vec<Value<'static>> {
        row.clear();
        row.into_iter().map(Value::into_owned).collect()
    }

    /// Numeric view of the cell: None for NULL and for NaN, the infinities
    /// as +-f64::MAX / 4 (so differences of two of them stay finite). A
    /// numeric column's encoder of model format 6 on counts NaN apart, as a
    /// value of its own (`NumericEncoder::nan_rate`); formats 1 to 5 read it
    /// as missing.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(x) if x.is_finite() => Some(*x),
            Value::Num(x) if x.is_infinite() => Some(x.signum() * f64::MAX / 4.0),
            _ => None,
        }
    }
}
