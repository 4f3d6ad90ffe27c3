//! Categorical columns (text, enum, boolean, derived time parts): a
//! frequency-ranked vocabulary with a cap, an "other" bucket for the rest and
//! a NULL category. A value never seen in training maps to "other" and is
//! scored as the rare event it is, never rejected.

use crate::schema::Value;
use serde::Serialize;
use std::collections::HashMap;

/// Most frequent values kept per column; the rest share the "other" bucket.
pub const MAX_VOCAB: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CategoricalEncoder {
    /// Kept values, most frequent first (ties by value, for determinism).
    pub vocab: Vec<String>,
    /// Training counts of each category: vocab..., other, NULL.
    pub counts: Vec<u64>,
}

impl CategoricalEncoder {
    /// Fit on training values; None when there is at most one category (constant).
    pub fn fit(values: &[Value<'_>]) -> Option<Self> {
        let mut freq: HashMap<&str, u64> = HashMap::new();
        let mut nulls = 0u64;
        for v in values {
            match v {
                Value::Text(t) => *freq.entry(t.as_ref()).or_insert(0) += 1,
                _ => nulls += 1,
            }
        }
        let distinct = freq.len() + usize::from(nulls > 0);
        if distinct < 2 {
            return None;
        }
        let mut ranked: Vec<(&str, u64)> = freq.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kept = ranked.len().min(MAX_VOCAB);
        let other: u64 = ranked[kept..].iter().map(|e| e.1).sum();
        let vocab: Vec<String> = ranked[..kept].iter().map(|e| e.0.to_string()).collect();
        let mut counts: Vec<u64> = ranked[..kept].iter().map(|e| e.1).collect();
        counts.push(other);
        counts.push(nulls);
        Some(CategoricalEncoder { vocab, counts })
    }

    /// Categories: the vocabulary, "other", NULL.
    pub fn n_categories(&self) -> usize {
        self.vocab.len() + 2
    }

    pub fn other_index(&self) -> usize {
        self.vocab.len()
    }

    pub fn null_index(&self) -> usize {
        self.vocab.len() + 1
    }

    /// The category of a value; linear in a vocabulary of at most 64 short strings.
    pub fn index(&self, v: &Value<'_>) -> usize {
        match v {
            Value::Text(t) => self
                .vocab
                .iter()
                .position(|w| w == t.as_ref())
                .unwrap_or(self.other_index()),
            _ => self.null_index(),
        }
    }

    /// Whether a value was seen in training (in the vocabulary, or NULL when NULLs occurred).
    pub fn seen(&self, v: &Value<'_>) -> bool {
        let i = self.index(v);
        i != self.other_index() && self.counts[i] > 0
    }

    /// Smoothed training probability of category i.
    pub fn probability(&self, i: usize) -> f64 {
        let n: u64 = self.counts.iter().sum();
        (self.counts[i] as f64 + 0.5) / (n as f64 + 1.0)
    }

    /// How surprising the value is on its own: -ln p. An unseen value gets the
    /// probability of a single rare event, even when "other" was common.
    pub fn marginal(&self, v: &Value<'_>) -> f64 {
        let i = self.index(v);
        let n: u64 = self.counts.iter().sum();
        let p = if i == self.other_index() && self.vocab.len() < MAX_VOCAB {
            // The vocabulary holds every training value: this one is new.
            0.5 / (n as f64 + 1.0)
        } else {
            self.probability(i)
        };
        -p.ln()
    }

    /// The label of a category, for explanations.
    pub fn label(&self, i: usize) -> Option<&str> {
        self.vocab.get(i).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::text as t;

    #[test]
    fn vocabulary_is_frequency_ranked_and_capped() {
        let mut vals = Vec::new();
        for i in 0..100 {
            for _ in 0..(100 - i) {
                vals.push(t(&format!("v{i}")));
            }
        }
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|| panic!("fit"));
        assert_eq!(e.vocab.len(), MAX_VOCAB);
        assert_eq!(e.vocab[0], "v0");
        assert_eq!(e.index(&t("v99")), e.other_index());
        assert_eq!(e.index(&Value::Null), e.null_index());
        assert_eq!(e.counts.iter().sum::<u64>(), vals.len() as u64);
    }

    #[test]
    fn constant_is_skipped_but_value_plus_null_is_not() {
        assert!(CategoricalEncoder::fit(&[t("a"), t("a")]).is_none());
        assert!(CategoricalEncoder::fit(&[Value::Null, Value::Null]).is_none());
        assert!(CategoricalEncoder::fit(&[t("a"), Value::Null]).is_some());
    }

    #[test]
    fn unseen_and_rare_values_are_surprising() {
        let mut vals: Vec<Value<'static>> = (0..990).map(|_| t("common")).collect();
        vals.extend((0..10).map(|_| t("rare")));
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|| panic!("fit"));
        let common = e.marginal(&t("common"));
        let rare = e.marginal(&t("rare"));
        let unseen = e.marginal(&t("never"));
        let null = e.marginal(&Value::Null);
        assert!(common < 0.1);
        assert!(rare > 4.0 && rare < unseen, "{rare} {unseen}");
        assert!(null > rare);
        assert!(!e.seen(&t("never")) && e.seen(&t("rare")) && !e.seen(&Value::Null));
    }
}
