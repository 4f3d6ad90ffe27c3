//! Training options: a validated struct parsed from the user's jsonb, stored
//! normalised (every automatic choice made concrete) with the model.

use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};

/// Options as the user gives them; `None` means "choose from the data".
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrainOptions {
    /// Passes over the training sample (1..=1000).
    pub epochs: Option<u32>,
    /// Width of the first hidden layer (4..=1024); the second is at most 64 wide.
    pub hidden: Option<u32>,
    /// Share of columns hidden per training row (0 < rate < 1).
    pub mask_rate: Option<f64>,
    /// Seed for sampling, initialisation and masks: the same seed gives the same model.
    pub seed: Option<u64>,
    /// Rows drawn uniformly from the table for training (100..=1,000,000): the
    /// sample is held in memory, so the cap bounds a training's footprint.
    pub sample_size: Option<u64>,
    /// Worker threads for training (1..=256).
    pub threads: Option<u32>,
    /// Expected share of anomalies: the default threshold of `ssad_is_anomaly` (0 < c < 0.5).
    pub contamination: Option<f64>,
    /// Distil a small student network for the prediction term, so scoring skips
    /// the masked network passes (default true); false keeps the exact network.
    pub distill: Option<bool>,
    /// The training rows are known to be normal (a vetted period, a cleaned
    /// table): train without the contamination guards that only protect
    /// against anomalies among them (`options::Guards`). Default false.
    pub clean: Option<bool>,
}

pub const DEFAULT_MASK_RATE: f64 = 0.4;
pub const DEFAULT_SEED: u64 = 42;
pub const DEFAULT_CONTAMINATION: f64 = 0.01;

/// The accepted ranges, inclusive for whole numbers and exclusive for
/// shares: `from_json` and `validate` both check against these.
const EPOCHS: (u64, u64) = (1, 1000);
const HIDDEN: (u64, u64) = (4, 1024);
/// The smallest `sample_size`: a training that cannot sample this many rows
/// in its memory (`memory::max_rows`) is refused.
pub const MIN_SAMPLE_SIZE: u64 = 100;
const SAMPLE_SIZE: (u64, u64) = (MIN_SAMPLE_SIZE, 1_000_000);
const THREADS: (u64, u64) = (1, 256);
const MASK_RATE: (f64, f64) = (0.0, 1.0);
const CONTAMINATION: (f64, f64) = (0.0, 0.5);

/// The keys `ssad_train` accepts, in the order the error hint lists them.
pub const KEYS: [&str; 9] = [
    "epochs",
    "hidden",
    "mask_rate",
    "seed",
    "sample_size",
    "threads",
    "contamination",
    "distill",
    "clean",
];

impl TrainOptions {
    /// Parse and validate the jsonb text given to `ssad_train`. Key by key,
    /// so that each error names the key and what it takes in SQL terms (not
    /// serde's Rust types: "expected u32" means nothing to a SQL user).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CoreError::InvalidOption(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(CoreError::InvalidOption(
                "options must be a JSON object".into(),
            ));
        };
        let mut o = TrainOptions::default();
        for (key, v) in &map {
            match key.as_str() {
                "epochs" => o.epochs = Some(whole(key, v, EPOCHS)? as u32),
                "hidden" => o.hidden = Some(whole(key, v, HIDDEN)? as u32),
                "mask_rate" => o.mask_rate = Some(open_interval(key, v, MASK_RATE)?),
                "seed" => o.seed = Some(whole(key, v, (0, u64::MAX))?),
                "sample_size" => o.sample_size = Some(whole(key, v, SAMPLE_SIZE)?),
                "threads" => o.threads = Some(whole(key, v, THREADS)? as u32),
                "contamination" => o.contamination = Some(open_interval(key, v, CONTAMINATION)?),
                "distill" => o.distill = Some(boolean(key, v)?),
                "clean" => o.clean = Some(boolean(key, v)?),
                _ => {
                    return Err(CoreError::InvalidOption(format!(
                        "unknown option \"{key}\""
                    )))
                }
            }
        }
        // Every value was checked against its range as it was read.
        Ok(o)
    }

    pub fn validate(&self) -> Result<()> {
        fn range(name: &str, v: Option<u64>, (lo, hi): (u64, u64)) -> Result<()> {
            match v {
                Some(x) if !(lo..=hi).contains(&x) => Err(CoreError::InvalidOption(format!(
                    "\"{name}\" must be between {lo} and {hi}, got {x}"
                ))),
                _ => Ok(()),
            }
        }
        fn share(name: &str, v: Option<f64>, (lo, hi): (f64, f64)) -> Result<()> {
            match v {
                Some(x) if !(x > lo && x < hi) => Err(CoreError::InvalidOption(format!(
                    "\"{name}\" must be strictly between {lo} and {hi}, got {x}"
                ))),
                _ => Ok(()),
            }
        }
        range("epochs", self.epochs.map(u64::from), EPOCHS)?;
        range("hidden", self.hidden.map(u64::from), HIDDEN)?;
        range("sample_size", self.sample_size, SAMPLE_SIZE)?;
        range("threads", self.threads.map(u64::from), THREADS)?;
        share("contamination", self.contamination, CONTAMINATION)?;
        share("mask_rate", self.mask_rate, MASK_RATE)
    }
}

/// A JSON whole number in `lo..=hi` (not a string, a fraction or 1e3).
fn whole(key: &str, v: &serde_json::Value, (lo, hi): (u64, u64)) -> Result<u64> {
    match v.as_u64() {
        Some(x) if (lo..=hi).contains(&x) => Ok(x),
        _ => Err(CoreError::InvalidOption(format!(
            "\"{key}\" must be a whole number between {lo} and {hi}, got {v}"
        ))),
    }
}

/// A JSON boolean (not 1, nor "yes").
fn boolean(key: &str, v: &serde_json::Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| {
        CoreError::InvalidOption(format!("\"{key}\" must be true or false, got {v}"))
    })
}

/// A JSON number strictly between `lo` and `hi`.
fn open_interval(key: &str, v: &serde_json::Value, (lo, hi): (f64, f64)) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x > lo && x < hi => Ok(x),
        _ => Err(CoreError::InvalidOption(format!(
            "\"{key}\" must be a number strictly between {lo} and {hi}, got {v}"
        ))),
    }
}

/// Options with every choice made: what a model was actually trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedOptions {
    pub epochs: u32,
    pub hidden: u32,
    pub mask_rate: f64,
    pub seed: u64,
    pub sample_size: u64,
    pub threads: u32,
    pub batch_size: u32,
    #[serde(default = "default_contamination")]
    pub contamination: f64,
    /// Whether a student was distilled (models stored before the option existed: false).
    #[serde(default)]
    pub distill: bool,
    /// Whether the training rows were declared normal (`TrainOptions::clean`;
    /// models stored before the option existed: false). Left out of the
    /// stored model's options text when false, so that a default model's
    /// bytes are those it had before the option existed; the catalog's
    /// options show it either way (`catalog_json`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub clean: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ResolvedOptions {
    /// The options as the catalog's `options` column shows them: every key,
    /// `clean` included when false.
    pub fn catalog_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!(self);
        if let Some(m) = v.as_object_mut() {
            m.insert("clean".into(), self.clean.into());
        }
        v
    }
}

fn default_contamination() -> f64 {
    DEFAULT_CONTAMINATION
}

/// The contamination guards of a training: each leaves rows out that may be
/// anomalies hidden in the training table, and with them the rarest normal
/// rows. All run by default; `clean` switches off those a table of normal
/// rows does better without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guards {
    /// The highest-loss rows of a batch get no gradient after a warm-up (`TRIM`).
    pub trim_loss: bool,
    /// The rows most surprising by the column densities are left out of
    /// training (`SCREEN`, `screened_rows`).
    pub screen: bool,
    /// The kNN reference leaves out the candidates scoring above a fence
    /// (`calibrate::kept_candidates`).
    pub reference_fence: bool,
    /// The kNN reference leaves out the sparsest candidates by their nearest
    /// candidates (`calibrate::sparsest`).
    pub reference_mass: bool,
    /// A column's prediction normaliser leaves out the calibration rows'
    /// highest errors in it (`calibrate::NORM_TRIM`): anomalies, which break
    /// the columns they break, would otherwise raise those columns'
    /// normalisers and so hide themselves.
    pub trimmed_norm: bool,
}

impl Guards {
    /// The guards a training with options `o` runs.
    pub fn for_options(o: &ResolvedOptions) -> Self {
        // `clean` switches off all of them: in protocol B (training rows all
        // normal), leaving out each of the first four alone, and all four
        // together, raised the mean AUROC on both halves of the shared
        // tables (`docs/records/accuracy.md`, "One-class mode"). The trimmed
        // normaliser was measured in protocol A only; off, a clean model is
        // the one it was before it.
        let on = !o.clean;
        Guards {
            trim_loss: on,
            screen: on,
            reference_fence: on,
            reference_mass: on,
            trimmed_norm: on,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_all_defaults() {
        assert_eq!(TrainOptions::from_json("{}"), Ok(TrainOptions::default()));
    }

    #[test]
    fn parses_known_keys() {
        let o =
            TrainOptions::from_json(r#"{"epochs": 5, "hidden": 32, "mask_rate": 0.3, "seed": 7}"#)
                .unwrap_or_default();
        assert_eq!(o.epochs, Some(5));
        assert_eq!(o.hidden, Some(32));
        assert_eq!(o.mask_rate, Some(0.3));
        assert_eq!(o.seed, Some(7));
        let o = TrainOptions::from_json(r#"{"distill": false}"#).unwrap_or_default();
        assert_eq!(o.distill, Some(false));
        let o = TrainOptions::from_json(r#"{"clean": true}"#).unwrap_or_default();
        assert_eq!(o.clean, Some(true));
        let o = TrainOptions::from_json(r#"{"clean": false}"#).unwrap_or_default();
        assert_eq!(o.clean, Some(false));
    }

    #[test]
    fn rejects_unknown_key() {
        let e = TrainOptions::from_json(r#"{"epoch": 5}"#);
        assert!(
            matches!(e, Err(CoreError::InvalidOption(ref m)) if m == "unknown option \"epoch\""),
            "{e:?}"
        );
    }

    #[test]
    fn errors_name_the_key_and_what_it_takes() {
        for (bad, want) in [
            (
                r#"{"epochs": -1}"#,
                r#""epochs" must be a whole number between 1 and 1000, got -1"#,
            ),
            (
                r#"{"epochs": "3"}"#,
                r#""epochs" must be a whole number between 1 and 1000, got "3""#,
            ),
            (
                r#"{"epochs": 2.5}"#,
                r#""epochs" must be a whole number between 1 and 1000, got 2.5"#,
            ),
            (
                r#"{"sample_size": 1e9}"#,
                r#""sample_size" must be a whole number between 100 and 1000000, got 1000000000.0"#,
            ),
            (
                r#"{"mask_rate": "0.3"}"#,
                r#""mask_rate" must be a number strictly between 0 and 1, got "0.3""#,
            ),
            (
                r#"{"distill": 1}"#,
                r#""distill" must be true or false, got 1"#,
            ),
            (
                r#"{"clean": "true"}"#,
                r#""clean" must be true or false, got "true""#,
            ),
            (
                r#"{"clean": null}"#,
                r#""clean" must be true or false, got null"#,
            ),
        ] {
            assert_eq!(
                TrainOptions::from_json(bad),
                Err(CoreError::InvalidOption(want.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_key_parses_and_keys_lists_them_all() {
        let text = r#"{"epochs": 5, "hidden": 32, "mask_rate": 0.3, "seed": 7, "sample_size": 500,
                       "threads": 2, "contamination": 0.05, "distill": false, "clean": true}"#;
        let o = TrainOptions::from_json(text).unwrap_or_default();
        assert_eq!(
            o,
            TrainOptions {
                epochs: Some(5),
                hidden: Some(32),
                mask_rate: Some(0.3),
                seed: Some(7),
                sample_size: Some(500),
                threads: Some(2),
                contamination: Some(0.05),
                distill: Some(false),
                clean: Some(true),
            }
        );
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let mut keys: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(|k| k.as_str()).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        let mut want = KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
    }

    #[test]
    fn rejects_out_of_range() {
        for bad in [
            r#"{"epochs": 0}"#,
            r#"{"hidden": 2}"#,
            r#"{"mask_rate": 1.0}"#,
            r#"{"mask_rate": 0}"#,
            r#"{"sample_size": 5}"#,
            r#"{"threads": 0}"#,
            r#"{"sample_size": 1000001}"#,
            r#"{"contamination": 0.5}"#,
            r#"{"seed": -1}"#,
            r#"{"epochs": "many"}"#,
            r#"{"distill": 1}"#,
            r#"{"distill": "yes"}"#,
            r#"{"clean": 1}"#,
            r#"{"clean": "yes"}"#,
            r#"{"clean": [true]}"#,
            r#"[1]"#,
        ] {
            assert!(
                matches!(
                    TrainOptions::from_json(bad),
                    Err(CoreError::InvalidOption(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn clean_is_stored_only_when_set_and_always_shown_in_the_catalog() {
        let mut o = ResolvedOptions {
            epochs: 5,
            hidden: 16,
            mask_rate: 0.4,
            seed: 42,
            sample_size: 20_000,
            threads: 1,
            batch_size: 16,
            contamination: 0.01,
            distill: true,
            clean: false,
        };
        // The stored text of a default model is the one it had before the
        // option existed, and such a text reads as not clean.
        let text = serde_json::to_string(&o).unwrap_or_default();
        assert!(!text.contains("clean"), "{text}");
        assert_eq!(
            serde_json::from_str::<ResolvedOptions>(&text).ok(),
            Some(o.clone())
        );
        assert_eq!(o.catalog_json()["clean"], serde_json::json!(false));
        o.clean = true;
        let text = serde_json::to_string(&o).unwrap_or_default();
        assert!(text.contains(r#""clean":true"#), "{text}");
        assert_eq!(
            serde_json::from_str::<ResolvedOptions>(&text).ok(),
            Some(o.clone())
        );
        assert_eq!(o.catalog_json()["clean"], serde_json::json!(true));
        assert_eq!(o.catalog_json()["seed"], serde_json::json!(42));
    }
}
