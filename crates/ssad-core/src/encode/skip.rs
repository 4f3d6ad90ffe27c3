//! Why a column is left out of a model.

/// Why a column was left out of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    AllNull,
    Constant,
    /// A numeric column holding only NaN and NULL.
    NoNumbers,
    /// A categorical column none of whose values is seen often enough to be
    /// a category (`categorical::min_count`): identifiers, e-mail addresses.
    NoRepeats,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AllNull => "entirely NULL",
            SkipReason::Constant => "constant",
            SkipReason::NoRepeats => "no value repeats enough to be a category (an identifier?)",
            SkipReason::NoNumbers => "no number, only NaN and NULL",
        }
    }
}
