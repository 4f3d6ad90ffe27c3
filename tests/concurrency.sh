#!/usr/bin/env bash
# Two sessions: a retrain in progress is invisible to scoring until it
# commits, and then the very next statement of the other session (same
# backend, same model cache) uses it. A second retrain of the same model
# while one runs is skipped with a NOTICE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-conc PORT=5492 DB=conc
it_cluster "$DIR" "$PORT" "$DB"
q "CREATE TABLE t AS SELECT i AS id, (i % 30)::float8 AS x, (i % 30 * 2 + (i % 7) / 10.0)::float8 AS y FROM generate_series(1, 3000) i" >/dev/null
q "SELECT version FROM ssad_train('m', 't', exclude => ARRAY['id'], options => '{\"epochs\": 2}')" >/dev/null
score_sql="SELECT ssad_score('m', t)::text FROM t WHERE id = 17"
v1=$(q "$score_sql")

# Session A: retrain (new seed), hold the transaction open for a while, commit.
pg_psql "$DIR" "$PORT" "$DB" -At >"$DIR/a.out" 2>&1 <<'SQL' &
SET client_min_messages = warning;
BEGIN;
UPDATE ssad.models SET train_args = jsonb_set(train_args, '{options,seed}', '7') WHERE name = 'm';
SELECT version FROM ssad_retrain('m');
SELECT pg_sleep(6);
COMMIT;
SQL
a_pid=$!
sleep 3
# Session B, one backend: score (A not committed), try a retrain, wait for A, score again.
pg_psql "$DIR" "$PORT" "$DB" -At >"$DIR/b.out" 2>&1 <<SQL
SET extra_float_digits = 3;
$score_sql;
SELECT count(*) FROM ssad_retrain('m');
SELECT pg_sleep(7);
$score_sql;
SQL
wait "$a_pid"
v2=$(q "$score_sql")
mapfile -t b < <(grep -v '^SET$' "$DIR/b.out" | grep -v '^$')
check "session A committed version 2" 2 "$(grep -E '^[0-9]+$' "$DIR/a.out" | head -1)"
check "uncommitted retrain invisible to other sessions" "$v1" "${b[0]}"
check "concurrent retrain skipped with a NOTICE" 1 "$(grep -c 'already running; this retrain is skipped' "$DIR/b.out")"
check "skipped retrain returned no row" 0 "$(grep -E '^[0-9]+$' "$DIR/b.out" | head -1)"
check "next statement after commit uses the new version" "$v2" "$(grep -v '^SET$' "$DIR/b.out" | grep -v '^$' | grep -vE '^[0-9]+$|NOTICE|^$' | sed -n 2p)"
check "the new version scores differently" t "$([ "$v1" != "$v2" ] && echo t || echo f)"
finish
