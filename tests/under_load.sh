#!/usr/bin/env bash
# ssad in a server that runs as people run it: scoring from several clients
# (pgbench) while retrains and activations commit underneath, and a server
# whose environment has RUST_BACKTRACE set (a Rust developer's machine).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-load PORT=5495 DB=load
PG_ENV="RUST_BACKTRACE=full" it_cluster "$DIR" "$PORT" "$DB"
q "CREATE TABLE t AS SELECT i AS id, (i % 30)::float8 AS x, (i % 30 * 2 + (i % 7) / 10.0)::float8 AS y,
     (ARRAY['a','b','c'])[1 + i % 3] AS k FROM generate_series(1, 5000) i" >/dev/null
q "SELECT version FROM ssad_train('m', 't', exclude => ARRAY['id'], options => '{\"epochs\": 2}')" >/dev/null

# An error Postgres raises inside an ssad call (a division by zero in the
# view training reads) reaches the client with its own SQLSTATE and message,
# and no Rust backtrace in its DETAIL, whatever RUST_BACKTRACE says.
q "CREATE VIEW broken AS SELECT x / (y - y) AS z, k FROM t" >/dev/null
err=$(pg_psql "$DIR" "$PORT" "$DB" -v VERBOSITY=verbose -c "SELECT ssad_train('b', 'broken')" 2>&1 || true)
check "the view's error reaches the client" 1 "$(grep -c '^ERROR:  22012: division by zero' <<<"$err")"
check "no DETAIL line (no Rust backtrace) on that error" 0 "$(grep -c '^DETAIL' <<<"$err")"
check "no stack frames in the error" 0 "$(grep -c -E 'backtrace|rust_begin_unwind|::' <<<"$err")"

# pgbench: 4 clients score single rows for 15 s while a loop retrains and
# flips the active version back and forth. Every transaction succeeds.
cat >"$DIR/score.sql" <<'SQL'
\set id random(1, 5000)
SELECT ssad_score('m', t), ssad_is_anomaly('m', t) FROM t WHERE id = :id;
SELECT ssad_score(t) FROM t WHERE id = :id;
SELECT ssad_quantile('m', r) FROM (SELECT x, y, k FROM t WHERE id = :id) r;
SQL
chmod a+r "$DIR/score.sql"
as_pg "$PG_BIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -c 4 -j 2 -T 15 -f "$DIR/score.sql" "$DB" \
    >"$DIR/pgbench.out" 2>&1 &
bench=$!
loops=0 loop_errors=0
while kill -0 "$bench" 2>/dev/null; do
    v=$(q "SELECT version FROM ssad_retrain('m')" 2>&1) || loop_errors=$((loop_errors + 1))
    q "SELECT ssad_activate('m', greatest($v - 1, 1))" >/dev/null 2>&1 || loop_errors=$((loop_errors + 1))
    q "SELECT ssad_activate('m', $v)" >/dev/null 2>&1 || loop_errors=$((loop_errors + 1))
    loops=$((loops + 1))
done
wait "$bench" && bench_rc=0 || bench_rc=$?
check "pgbench exited cleanly" 0 "$bench_rc"
check "no failed transactions" 0 "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$DIR/pgbench.out")"
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$DIR/pgbench.out")
check "transactions were processed" t "$([ "${processed:-0}" -gt 100 ] && echo t || echo f)"
check "retrains and activations committed without error" 0 "$loop_errors"
check "the loop ran several times" t "$([ "$loops" -ge 3 ] && echo t || echo f)"
echo "pgbench: ${processed:-0} transactions; $loops retrain and activation loops"
finish
