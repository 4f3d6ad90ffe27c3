#!/usr/bin/env bash
# Shared by the SQL benchmarks: set-up, a release build installed (skipped
# with SSAD_SKIP_INSTALL=1), and a throwaway cluster with database DB holding
# the extension; the libpq environment points psql at it.
export PATH="$HOME/.cargo/bin:$PATH"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
. scripts/pg.sh

# bench_cluster DIR PORT DB [postgresql.conf lines...]
bench_cluster() {
    local dir=$1 port=$2 db=$3
    shift 3
    bash scripts/setup.sh
    if [ -z "${SSAD_SKIP_INSTALL:-}" ]; then
        cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >"/tmp/ssad-$db-install.log" 2>&1 \
            || { tail -40 "/tmp/ssad-$db-install.log"; exit 1; }
    fi
    pg_start "$dir" "$port" "$@"
    BENCH_DIR=$dir
    trap 'pg_stop "$BENCH_DIR"' EXIT
    export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=$db
    psql -X -q -d postgres -c "CREATE DATABASE $db"
    psql -X -q -c "CREATE EXTENSION ssad"
}

# bench_venv: benches/.venv with scikit-learn (the IsolationForest baseline)
# and matplotlib (benches/plots.py); VENV names it.
VENV=$REPO/benches/.venv
bench_venv() {
    if ! "$VENV/bin/python" -c "import sklearn, matplotlib" 2>/dev/null; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "scikit-learn==1.5.2" "numpy<2.2" "matplotlib==3.9.2"
    fi
}

# bench_plots: the PNGs of benches/results (benches/plots.py), beside them.
bench_plots() {
    "$VENV/bin/python" benches/plots.py --only "$1" || echo "plots: no picture (see above)"
}
