#!/usr/bin/env bash
# Generalisation check on tables the defaults were never tuned on: builds
# ADBench-style tables from scikit-learn's bundled datasets (benches/holdout.py)
# and runs the core harness on them in protocol A, next to IsolationForest,
# ECOD and KNN. Needs no cluster; the venv is benches/speed.sh's.
# Usage: bash benches/holdout.sh [extra ssad-eval flags, e.g. --options '{"seed":7}']
# The results go to benches/results/holdout/ssad.csv unless the flags name
# another file with --csv (the last --csv given wins): one file per build and
# seed lets `ssad-eval --compare BASE.csv CAND.csv --holdout HBASE.csv HCAND.csv`
# put these tables next to the shared ones (docs/records/accuracy.md).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=$REPO/benches/.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "scikit-learn==1.5.2" "numpy<2.2"
fi
OUT=$REPO/benches/results/holdout
mkdir -p "$OUT"
"$VENV/bin/python" "$REPO/benches/holdout.py" "$OUT"
cd "$REPO"
cargo run --release -q -p ssad-eval -- "$OUT" --protocol A --csv "$OUT/ssad.csv" "$@"
