"""Tables the defaults were never tuned on, for a generalisation check.

ADBench-style anomaly tables built from the datasets scikit-learn ships in
its package (no download): wine (class 0 as the anomalies, 10 of them kept,
as ADBench builds its wine table), breast cancer (malignant as the
anomalies, 10 kept: ADBench's WDBC) and iris (setosa, 5 kept). Each is drawn
with 5 seeds, so one draw of 10 anomalies does not decide. Writes
OUT/<table>_s<seed>.csv.gz, OUT/manifest.json and OUT/baselines.csv with
IsolationForest, ECOD and KNN fitted and scored on the whole table
(protocol A), the format of ../shared/datasets/adbench.

Usage: python benches/holdout.py OUT
"""
import csv
import gzip
import json
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors


def ecod(x):
    """ECOD (Li et al. 2022): per-column ECDF tails, the larger of the left,
    right and skew-side sums."""
    left = np.zeros(len(x))
    right = np.zeros(len(x))
    side = np.zeros(len(x))
    for col in x.T:
        lt = -np.log((col[None, :] <= col[:, None]).mean(1))
        rt = -np.log((col[None, :] >= col[:, None]).mean(1))
        m, s = col.mean(), col.std()
        sk = ((col - m) ** 3).mean() / s**3 if s > 0 else 0.0
        left += lt
        right += rt
        side += rt if sk >= 0 else lt
    return np.maximum(np.maximum(left, right), side)


def knn(x):
    """Distance to the 5th nearest other row, standardised columns."""
    sd = x.std(0)
    z = (x - x.mean(0)) / np.where(sd > 0, sd, 1)
    d, _ = NearestNeighbors(n_neighbors=6).fit(z).kneighbors(z)
    return d[:, 5]


def main(out):
    sources = [
        ("wine", load_wine(), 0, 10),
        ("WDBC", load_breast_cancer(), 0, 10),
        ("iris", load_iris(), 0, 5),
    ]
    names, baselines = [], []
    for seed in range(5):
        for name, ds, anomaly_class, n_anom in sources:
            rng = np.random.default_rng(seed)
            is_anom = ds.target == anomaly_class
            keep = np.concatenate(
                [np.where(~is_anom)[0], rng.choice(np.where(is_anom)[0], n_anom, replace=False)]
            )
            rng.shuffle(keep)
            x, y = ds.data[keep], is_anom[keep]
            table = f"{name}_s{seed}"
            names.append(table)
            with gzip.open(f"{out}/{table}.csv.gz", "wt", newline="") as f:
                w = csv.writer(f)
                w.writerow([f"f{j}" for j in range(x.shape[1])] + ["is_anomaly"])
                w.writerows(list(r) + [int(a)] for r, a in zip(x, y))
            scores = {
                "IForest": -IsolationForest(random_state=0).fit(x).score_samples(x),
                "ECOD": ecod(x),
                "KNN": knn(x),
            }
            for det, s in scores.items():
                baselines.append(
                    ["A", table, len(x), x.shape[1], round(y.mean(), 4), det,
                     round(roc_auc_score(y, s), 4), round(average_precision_score(y, s), 4), 0, 0]
                )
    with open(f"{out}/manifest.json", "w") as f:
        json.dump({"tables": [{"name": n} for n in names]}, f)
    with open(f"{out}/baselines.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow("protocol,dataset,n_rows,n_features,anomaly_rate,detector,auroc,auprc,fit_s,score_s".split(","))
        w.writerows(baselines)


if __name__ == "__main__":
    main(sys.argv[1])
