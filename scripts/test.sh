#!/usr/bin/env bash
# Every test layer, from a fresh machine: set-up, style, pure core tests, #[pg_test]s,
# the pg_regress suite, the integration tests. Ends in "N passed, N failed".
export PATH="$HOME/.cargo/bin:$PATH"
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

bash scripts/setup.sh || { echo "set-up failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 failures=""
step() {
    local name=$1; shift
    echo "==> $name"
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1)); echo "==> $name: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1)); failures="$failures
  - $name"; echo "==> $name: FAILED ($((SECONDS - t0)) s)"
    fi
}

pgrx_test() {
    local data=/tmp/ssad-pgrx-test
    rm -rf "$data" && mkdir -p "$data" && chown postgres:postgres "$data"
    cargo pgrx test pg15 --runas postgres --pgdata "$data"
}

style() {
    cargo fmt --all --check &&
        cargo clippy --workspace --features "pg15 pg_test" --all-targets -- -D warnings
}

step "style (cargo fmt --check, cargo clippy -D warnings; builds ssad-eval and the benches)" style
step "core tests (cargo test, no Postgres)" cargo test -p ssad-core --release
step "pg_test (cargo pgrx test pg15)" pgrx_test
step "install the extension" cargo pgrx install --pg-config "$PG_CONFIG"
step "pg_regress suite (pg_test/)" bash pg_test/run.sh
for t in tests/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    step "integration: $(basename "$t" .sh)" bash "$t"
done

[ -n "$failures" ] && echo "failed steps:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
