#!/usr/bin/env bash
# SQL-level speed benchmark: builds and installs ssad (release), starts a
# throwaway cluster, creates a Python venv with scikit-learn for the
# IsolationForest baseline (and matplotlib), runs benches/speed.py, draws
# benches/results/speed.png (benches/plots.py), stops the cluster.
# Usage: bash benches/speed.sh [--rows 1000000] [--shared http,cover,celeba]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_venv
bench_cluster /tmp/ssad-speed 5491 ssad_speed "max_parallel_workers_per_gather = 2" "shared_buffers = '2GB'" "work_mem = '64MB'"
"$VENV/bin/python" benches/speed.py "$@"
bench_plots speed
