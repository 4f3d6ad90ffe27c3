//! Loading the shared tables: manifest order, gzipped CSV with numeric
//! features `f0..` and a boolean `is_anomaly` label kept apart from the rows.

use flate2::read::GzDecoder;
use ssad_core::Value;
use std::fs::File;
use std::path::Path;

pub struct Table {
    pub name: String,
    pub n_features: usize,
    /// Feature values, row-major; the label is never among them.
    pub rows: Vec<Vec<Value<'static>>>,
    pub labels: Vec<bool>,
}

/// Table names in the order of `manifest.json`.
pub fn manifest_names(dir: &Path) -> Result<Vec<String>, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Tiny targeted parse: every `"name": "..."` in order.
    let mut names = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\"name\"") {
        rest = &rest[i + 6..];
        let Some(q1) = rest.find('"') else { break };
        let after = &rest[q1 + 1..];
        let Some(q2) = after.find('"') else { break };
        names.push(after[..q2].to_string());
        rest = &after[q2 + 1..];
    }
    if names.is_empty() {
        return Err(format!("{}: no table names", path.display()));
    }
    Ok(names)
}

pub fn load(dir: &Path, name: &str) -> Result<Table, String> {
    let path = dir.join(format!("{name}.csv.gz"));
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rdr = csv::Reader::from_reader(GzDecoder::new(file));
    let header = rdr.headers().map_err(|e| format!("{name}: {e}"))?.clone();
    let label_col = header
        .iter()
        .position(|h| h == "is_anomaly")
        .ok_or_else(|| format!("{name}: no is_anomaly column"))?;
    let feature_cols: Vec<usize> = (0..header.len()).filter(|&c| c != label_col).collect();
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{name}: {e}"))?;
        let row = feature_cols
            .iter()
            .map(|&c| match rec.get(c).map(str::trim) {
                None | Some("") => Value::Null,
                Some(s) => s.parse::<f64>().map(Value::Num).unwrap_or(Value::Null),
            })
            .collect();
        let label = matches!(
            rec.get(label_col).map(str::trim),
            Some("true" | "True" | "1" | "t")
        );
        rows.push(row);
        labels.push(label);
    }
    Ok(Table {
        name: name.to_string(),
        n_features: feature_cols.len(),
        rows,
        labels,
    })
}
