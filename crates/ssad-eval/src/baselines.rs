//! The classical detectors' figures from `baselines.csv`, and ranking ssad among them.

use std::collections::BTreeMap;
use std::path::Path;

/// (protocol, dataset, detector) -> (auroc, auprc).
pub struct Baselines {
    pub detectors: Vec<String>,
    pub values: BTreeMap<(String, String, String), (f64, f64)>,
}

pub fn load(dir: &Path) -> Result<Baselines, String> {
    let path = dir.join("baselines.csv");
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header = rdr.headers().map_err(|e| e.to_string())?.clone();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .ok_or_else(|| format!("baselines.csv: no {n}"))
    };
    let (cp, cd, cdet, ca, cpr) = (
        col("protocol")?,
        col("dataset")?,
        col("detector")?,
        col("auroc")?,
        col("auprc")?,
    );
    let mut detectors: Vec<String> = Vec::new();
    let mut values = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let get = |c: usize| rec.get(c).unwrap_or("").to_string();
        let num = |c: usize| get(c).parse::<f64>().unwrap_or(f64::NAN);
        let det = get(cdet);
        if !detectors.contains(&det) {
            detectors.push(det.clone());
        }
        values.insert((get(cp), get(cd), det), (num(ca), num(cpr)));
    }
    Ok(Baselines { detectors, values })
}

/// One detector's figures on the selected tables of a protocol.
pub struct Row {
    pub name: String,
    pub auroc: Vec<f64>,
    pub auprc: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mid-rank (1 = best) of each entry of `xs`, higher is better.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    xs.iter()
        .map(|&x| {
            let above = xs.iter().filter(|&&y| y > x).count() as f64;
            let ties = xs.iter().filter(|&&y| y == x).count() as f64;
            above + (ties + 1.0) / 2.0
        })
        .collect()
}

/// Print a leaderboard: mean AUROC/AUPRC, rank of the mean, and mean per-table rank.
pub fn leaderboard(title: &str, rows: &[Row]) -> String {
    let mean_auroc: Vec<f64> = rows.iter().map(|r| mean(&r.auroc)).collect();
    let mean_auprc: Vec<f64> = rows.iter().map(|r| mean(&r.auprc)).collect();
    let rank_of_mean = ranks(&mean_auroc);
    let n_tables = rows.first().map_or(0, |r| r.auroc.len());
    let mut table_rank = vec![0.0; rows.len()];
    let mut table_rank_pr = vec![0.0; rows.len()];
    for t in 0..n_tables {
        let a: Vec<f64> = rows.iter().map(|r| r.auroc[t]).collect();
        let p: Vec<f64> = rows.iter().map(|r| r.auprc[t]).collect();
        for (i, (ra, rp)) in ranks(&a).into_iter().zip(ranks(&p)).enumerate() {
            table_rank[i] += ra / n_tables as f64;
            table_rank_pr[i] += rp / n_tables as f64;
        }
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| mean_auroc[b].total_cmp(&mean_auroc[a]));
    let mut out = format!(
        "\n{title}\n{:<10} {:>7} {:>7} {:>6} {:>9} {:>9}\n",
        "detector", "AUROC", "AUPRC", "rank", "tblrankR", "tblrankP"
    );
    for i in order {
        out += &format!(
            "{:<10} {:>7.4} {:>7.4} {:>6.1} {:>9.2} {:>9.2}\n",
            rows[i].name,
            mean_auroc[i],
            mean_auprc[i],
            rank_of_mean[i],
            table_rank[i],
            table_rank_pr[i]
        );
    }
    out
}
