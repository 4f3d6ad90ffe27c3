#!/usr/bin/env bash
# SQL-level speed benchmark: builds and installs ssad (release), starts a
# throwaway cluster, creates a Python venv with scikit-learn for the
# IsolationForest baseline, runs benches/speed.py, stops the cluster.
# Usage: bash benches/speed.sh [--rows 1000000] [--shared http,cover,celeba]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VENV=$REPO/benches/.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "scikit-learn==1.5.2" "numpy<2.2"
fi
bench_cluster /tmp/ssad-speed 5491 ssad_speed "max_parallel_workers_per_gather = 2" "shared_buffers = '2GB'" "work_mem = '64MB'"
"$VENV/bin/python" benches/speed.py "$@"
