#!/usr/bin/env bash
# Two sessions: a retrain in progress is invisible to scoring until it
# commits, and then the very next statement of the other session (same
# backend, same model cache) uses it. A second retrain of the same model
# while one runs is skipped with a NOTICE. A whole-table scan reads its
# statement's snapshot.
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

# A whole-table scan reads its statement's snapshot (a plain table's heap is
# read directly): session C inserts 500 rows and deletes 100 in a transaction
# it holds open; session D's scans do not see them before C commits, nor
# after within a repeatable-read transaction, and the next statement does.
topk_rows="SELECT count(*) FROM ssad_top_anomalies('m', 't', 100000)"
pg_psql "$DIR" "$PORT" "$DB" -At >"$DIR/c.out" 2>&1 <<'SQL' &
BEGIN;
INSERT INTO t SELECT i, (i % 30)::float8, (i % 30 * 2)::float8 FROM generate_series(3001, 3500) i;
DELETE FROM t WHERE id <= 100;
SELECT pg_sleep(4);
COMMIT;
SQL
c_pid=$!
sleep 2
pg_psql "$DIR" "$PORT" "$DB" -At >"$DIR/d.out" 2>&1 <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
$topk_rows;
SELECT pg_sleep(5);
$topk_rows;
COMMIT;
$topk_rows;
SQL
wait "$c_pid"
mapfile -t d < <(grep -E '^[0-9]+$' "$DIR/d.out")
check "a scan does not read another session's uncommitted rows" 3000 "${d[0]:-}"
check "a repeatable-read scan keeps its snapshot after they commit" 3000 "${d[1]:-}"
check "the next statement reads them" 3400 "${d[2]:-}"
finish
