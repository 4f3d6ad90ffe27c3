//! Categorical columns (text, enum, boolean, derived time parts): a
//! frequency-ranked vocabulary with a cap, an "other" bucket for the rest and
//! a NULL category. A value never seen in training maps to "other" and is
//! scored as the rare event it is, never rejected.
//!
//! A value needs a few training rows (`min_count`) to be a category of its
//! own, and its surprise on its own is the share of training rows whose
//! values are at most as common as it (a level set, as `density` does for
//! numbers). So a column of identifiers or e-mail addresses, whose values
//! are each seen once, has no categories and is set aside, and among
//! customers seen about as often as each other none looks rare. Models of
//! formats 1 to 3 keep the 64 most frequent values whatever their counts and
//! score a value by its own probability (`Scheme::FullTextProbability`).

use super::skip::SkipReason;
use crate::schema::Value;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// Most frequent values kept per column; the rest share the "other" bucket.
pub const MAX_VOCAB: usize = 64;

/// Longest text a category keeps as it is (bytes). A longer value is known by
/// its `key`: a sample of long texts (documents, payloads) then costs little
/// memory, and a model stays small.
pub const MAX_TEXT: usize = 256;

/// The text a category knows a value by (format 4 on): the value itself up
/// to `MAX_TEXT` bytes; beyond, its first 64 bytes (to a character boundary),
/// its length and a CRC-32 of the whole. Short enough to be its own key.
pub fn key(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_TEXT {
        return Cow::Borrowed(s);
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… ({} bytes, crc32 {:08x})",
        &s[..end],
        s.len(),
        crc32fast::hash(s.as_bytes())
    ))
}

/// Training rows a value needs to be a category of its own: 5, fewer in a
/// table of fewer than 250 rows (one in 50 rows, at least 2).
pub fn min_count(n: usize) -> u64 {
    (n as u64 / 50).clamp(2, 5)
}

/// How a categorical column knows its values and scores one on its own;
/// the codec decides it from the model's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A value is known by its `key` (a long text by its prefix, length and
    /// CRC-32), and its marginal is the level-set surprise: -ln of the share
    /// of training rows whose values are at most as common. What training
    /// fits.
    KeyedLevelSet,
    /// A value is known by its full text, and its marginal is -ln of its
    /// category's own probability: models of formats 1 to 3.
    FullTextProbability,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CategoricalEncoder {
    /// Kept values, most frequent first (ties by value, for determinism).
    pub vocab: Vec<String>,
    /// Training counts of each category: vocab..., other, NULL.
    pub counts: Vec<u64>,
    /// How values are matched to categories and how rare one is.
    #[serde(skip)]
    pub scheme: Scheme,
    /// Derived: the level-set surprise of each category (vocab..., other,
    /// NULL; a category without training rows gets the never-seen surprise).
    #[serde(skip)]
    surprise: Vec<f64>,
}

impl CategoricalEncoder {
    /// Fit on training values; an error when fewer than two categories hold
    /// training rows: `Constant` for one distinct value (NULL counting as
    /// one), `NoRepeats` when the values are too rare to be categories
    /// (identifiers, e-mail addresses).
    pub fn fit(values: &[Value<'_>]) -> Result<Self, SkipReason> {
        let mut freq: HashMap<Cow<'_, str>, u64> = HashMap::new();
        let mut nulls = 0u64;
        for v in values {
            match v {
                Value::Text(t) => *freq.entry(key(t)).or_insert(0) += 1,
                _ => nulls += 1,
            }
        }
        let mut ranked: Vec<(Cow<'_, str>, u64)> = freq.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let least = min_count(values.len());
        let kept = ranked
            .iter()
            .take(MAX_VOCAB)
            .take_while(|e| e.1 >= least)
            .count();
        let other: u64 = ranked[kept..].iter().map(|e| e.1).sum();
        let populated = kept + usize::from(other > 0) + usize::from(nulls > 0);
        if ranked.len() + usize::from(nulls > 0) < 2 {
            return Err(SkipReason::Constant);
        }
        if populated < 2 {
            return Err(SkipReason::NoRepeats);
        }
        let vocab: Vec<String> = ranked[..kept].iter().map(|e| e.0.to_string()).collect();
        let mut counts: Vec<u64> = ranked[..kept].iter().map(|e| e.1).collect();
        counts.push(other);
        counts.push(nulls);
        Ok(Self::from_parts(vocab, counts, Scheme::KeyedLevelSet))
    }

    /// Rebuild from the stored fields (the derived table is recomputed).
    pub fn from_parts(vocab: Vec<String>, counts: Vec<u64>, scheme: Scheme) -> Self {
        let surprise = match scheme {
            Scheme::KeyedLevelSet => level_surprise(&counts, vocab.len()),
            Scheme::FullTextProbability => Vec::new(),
        };
        CategoricalEncoder {
            vocab,
            counts,
            scheme,
            surprise,
        }
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
            Value::Text(t) => {
                let k = match self.scheme {
                    Scheme::KeyedLevelSet => key(t),
                    Scheme::FullTextProbability => Cow::Borrowed(t.as_ref()),
                };
                self.vocab
                    .iter()
                    .position(|w| *w == k)
                    .unwrap_or(self.other_index())
            }
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

    /// How surprising the value is on its own (see `Scheme`); under
    /// `FullTextProbability` an unseen value gets the probability of a
    /// single rare event when the vocabulary held every training value.
    pub fn marginal(&self, v: &Value<'_>) -> f64 {
        let i = self.index(v);
        if self.scheme == Scheme::KeyedLevelSet {
            return self.surprise[i];
        }
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

/// Per category (vocab..., other, NULL) of `counts` with `kept` vocabulary
/// values: -ln((s + 0.5) / (n + 1)), s the training rows whose values are at
/// most as common as the category's. A value of "other" is counted as seen
/// as often as it can have been: as the least kept value when the
/// vocabulary is full, else one time short of the minimum count. A category without
/// training rows gets -ln(0.5 / (n + 1)), the surprise of a value never seen.
fn level_surprise(counts: &[u64], kept: usize) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    let nf = n as f64;
    let never = -(0.5 / (nf + 1.0)).ln();
    // How common one value of each category is: its count; for "other", the
    // most its values can have been seen (the least kept count when the
    // vocabulary is full, else one short of the minimum count).
    let other_each = if kept == MAX_VOCAB {
        counts[..kept].iter().copied().min().unwrap_or(0)
    } else {
        min_count(n as usize) - 1
    };
    let each: Vec<u64> = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| if i == kept { other_each } else { c })
        .collect();
    counts
        .iter()
        .zip(&each)
        .map(|(&c, &e)| {
            if c == 0 {
                return never;
            }
            let at_most: u64 = counts
                .iter()
                .zip(&each)
                .filter(|&(&m, &f)| m > 0 && f <= e)
                .map(|(&m, _)| m)
                .sum();
            -((at_most as f64 + 0.5) / (nf + 1.0)).ln()
        })
        .collect()
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
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|e| panic!("fit: {e:?}"));
        assert_eq!(e.vocab.len(), MAX_VOCAB);
        assert_eq!(e.vocab[0], "v0");
        assert_eq!(e.index(&t("v99")), e.other_index());
        assert_eq!(e.index(&Value::Null), e.null_index());
        assert_eq!(e.counts.iter().sum::<u64>(), vals.len() as u64);
    }

    #[test]
    fn constant_is_skipped_but_value_plus_null_is_not() {
        assert!(CategoricalEncoder::fit(&[t("a"), t("a")]).is_err());
        assert!(CategoricalEncoder::fit(&[Value::Null, Value::Null]).is_err());
        assert!(CategoricalEncoder::fit(&[t("a"), Value::Null]).is_ok());
    }

    #[test]
    fn unseen_and_rare_values_are_surprising() {
        let mut vals: Vec<Value<'static>> = (0..990).map(|_| t("common")).collect();
        vals.extend((0..10).map(|_| t("rare")));
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|e| panic!("fit: {e:?}"));
        let common = e.marginal(&t("common"));
        let rare = e.marginal(&t("rare"));
        let unseen = e.marginal(&t("never"));
        let null = e.marginal(&Value::Null);
        assert!(common < 0.1);
        assert!(rare > 4.0 && rare < unseen, "{rare} {unseen}");
        assert!(null > rare);
        assert!(!e.seen(&t("never")) && e.seen(&t("rare")) && !e.seen(&Value::Null));
    }

    #[test]
    fn identifiers_are_no_categories() {
        // Every value seen once: no category holds two rows, the column is constant.
        let ids: Vec<Value<'static>> = (0..5000).map(|i| t(&format!("user{i}@x.com"))).collect();
        assert!(CategoricalEncoder::fit(&ids).is_err());
        // With some NULLs it stays (a NULL is information), but no value is surprising.
        let mut with_nulls = ids.clone();
        with_nulls.extend((0..50).map(|_| Value::Null));
        let e = CategoricalEncoder::fit(&with_nulls).unwrap_or_else(|e| panic!("fit: {e:?}"));
        assert!(e.vocab.is_empty());
        for v in [t("user7@x.com"), t("someone@else.org"), Value::Null] {
            assert!(e.marginal(&v) < 0.1, "{v:?}: {}", e.marginal(&v));
        }
    }

    #[test]
    fn no_value_is_rare_among_equally_common_ones() {
        // 200 customers seen 20 to 29 times each: the 64 kept are no rarer
        // than the rest, and none is below the marginal's 2% hinge.
        let mut vals = Vec::new();
        for c in 0..200 {
            for _ in 0..(20 + c % 10) {
                vals.push(t(&format!("c{c}")));
            }
        }
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|e| panic!("fit: {e:?}"));
        assert_eq!(e.vocab.len(), MAX_VOCAB);
        let hinge = -(0.02f64).ln();
        for c in 0..200 {
            let m = e.marginal(&t(&format!("c{c}")));
            assert!(m < hinge, "c{c}: {m}");
        }
        // A new customer is one more value of "other": as common as they are.
        assert!(e.marginal(&t("c_new")) < hinge);
    }

    #[test]
    fn a_value_too_rare_to_be_a_category_is_scored_through_other() {
        // 995 common rows and one value seen 5 times in a table where the
        // minimum is 5: kept; seen 4 times: "other", as rare as its rows.
        let mut vals: Vec<Value<'static>> = (0..995).map(|_| t("common")).collect();
        vals.extend((0..4).map(|_| t("odd")));
        vals.push(t("once"));
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|e| panic!("fit: {e:?}"));
        assert_eq!(e.vocab, vec!["common".to_string()]);
        let other = e.marginal(&t("odd"));
        assert!((other - -((5.5f64) / 1001.0).ln()).abs() < 1e-12, "{other}");
        assert_eq!(e.marginal(&t("never seen")), other);
        assert!(e.marginal(&t("common")) < 0.01);
        // NULL never occurred: the surprise of a value never seen.
        assert!(e.marginal(&Value::Null) > other);
    }

    #[test]
    fn models_of_earlier_formats_keep_their_marginal() {
        let e = CategoricalEncoder::from_parts(
            vec!["a".into(), "b".into()],
            vec![90, 9, 0, 1],
            Scheme::FullTextProbability,
        );
        let n = 100.0f64;
        assert_eq!(e.marginal(&t("b")), -((9.5) / (n + 1.0)).ln());
        assert_eq!(e.marginal(&t("new")), -(0.5 / (n + 1.0)).ln());
        assert_eq!(e.marginal(&Value::Null), -((1.5) / (n + 1.0)).ln());
    }

    #[test]
    fn long_texts_are_known_by_their_key() {
        let short = "x".repeat(MAX_TEXT);
        assert!(matches!(key(&short), Cow::Borrowed(_)));
        // Multibyte characters: the prefix ends on a character boundary.
        let long = "é".repeat(200) + "tail";
        let k = key(&long);
        assert!(k.len() <= MAX_TEXT && k.starts_with(&"é".repeat(32)), "{k}");
        assert_eq!(key(&k), k, "a key is its own key");
        let other = "é".repeat(200) + "tail!";
        assert_ne!(
            key(&other),
            k,
            "texts with the same prefix differ by length or CRC"
        );
        // A category of long texts: the full text and its key find the same category.
        let mut vals: Vec<Value<'static>> = (0..50).map(|_| t(&long)).collect();
        vals.extend((0..50).map(|_| t("short")));
        let e = CategoricalEncoder::fit(&vals).unwrap_or_else(|e| panic!("fit: {e:?}"));
        assert!(e.vocab.iter().all(|v| v.len() <= MAX_TEXT));
        assert_eq!(
            e.index(&t(&long)),
            e.index(&Value::Text(Cow::Owned(k.to_string())))
        );
        assert_ne!(e.index(&t(&long)), e.other_index());
        assert_eq!(e.index(&t(&other)), e.other_index());
    }
}
