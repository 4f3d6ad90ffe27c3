#!/usr/bin/env bash
# ssad.model_stats with ssad in shared_preload_libraries: two sessions that
# score N rows each read 2N from a third; parallel workers' rows, aborted
# transactions' rows, flags and top-k scans count; a role sees the counters
# of the models it may see only; only a superuser (or a role granted it)
# resets them. Then, without the preload, the counters are the session's own.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-stats PORT=5489 DB=stats N=4000
it_cluster "$DIR" "$PORT" "$DB" "shared_preload_libraries = 'ssad'"
q "CREATE TABLE t AS SELECT i AS id, (i % 30)::float8 AS x, (i % 30 * 2 + (i % 7) / 10.0)::float8 AS y FROM generate_series(1, $N) i" >/dev/null
q "SELECT version FROM ssad_train('m', 't', exclude => ARRAY['id'], options => '{\"epochs\": 2}')" >/dev/null
stat() { q "SELECT $1 FROM ssad.model_stats WHERE name = 'm' AND active"; }
# then_stat [psql args] SQL: one session runs SQL, then reads rows_scored.
then_stat() {
    local sql=${*: -1}
    printf '%s\n' "$sql" "SELECT rows_scored FROM ssad.model_stats WHERE name = 'm' AND active;" |
        pg_psql "$DIR" "$PORT" "$DB" -At "${@:1:$#-1}" | tail -1
}

check "counted in shared memory" server "$(stat counted)"
check "counting since the server started" t "$(stat "counted_since <= now()")"
check "nothing scored yet" 0 "$(stat rows_scored)"
check "the training's sample and duration" "$N true" "$(stat "sample_rows || ' ' || (train_seconds > 0)")"

# Two sessions at once, N rows each; a third session reads 2N.
for s in a b; do
    pg_psql "$DIR" "$PORT" "$DB" -At -c "SELECT count(ssad_score('m', t)) FROM t" >"$DIR/$s.out" 2>&1 &
done
wait
check "session a scored N rows" "$N" "$(cat "$DIR/a.out")"
check "session b scored N rows" "$N" "$(cat "$DIR/b.out")"
check "two sessions of N rows read 2N from a third" $((2 * N)) "$(stat rows_scored)"

# A parallel plan: the workers' rows count too, each once.
par="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
     SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = off;"
workers=$(q "$par EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) SELECT sum(ssad_score('m', t)) FROM t" | grep -o '"Workers Launched": [0-9]*' | head -1)
check "the parallel plan launched workers" t "$([ "${workers##* }" -gt 0 ] && echo t || echo f)"
check "a parallel scan's rows counted once" $((3 * N)) "$(stat rows_scored)"

# Rows scored in a transaction that aborts were scored all the same.
pg_psql "$DIR" "$PORT" "$DB" -At >/dev/null 2>&1 <<SQL || true
BEGIN;
SELECT count(ssad_score('m', t)) FROM t WHERE id <= 100;
SELECT 1 / 0;
COMMIT;
SQL
check "an aborted transaction's rows count" $((3 * N + 100)) "$(stat rows_scored)"

flagged=$(q "SELECT count(*) FROM t WHERE ssad_is_anomaly('m', t, 0.05)")
check "some rows flagged" t "$([ "$flagged" -gt 0 ] && echo t || echo f)"
check "rows_flagged counts ssad_is_anomaly's true answers" "$flagged" "$(stat rows_flagged)"
q "SELECT count(*) FROM ssad_top_anomalies('m', k => 5)" >/dev/null
check "a top-k scan and the rows it read" "1 $N" "$(stat "topk_scans || ' ' || topk_rows")"
check "scoring in this transaction shows before it ends" $((4 * N + 100 + 7)) \
    "$(then_stat "BEGIN; SELECT count(ssad_score('m', t)) FROM t WHERE id <= 7;")"

# Visibility follows the catalog's row-level security.
q "CREATE ROLE alice LOGIN; GRANT SELECT ON t TO alice" >/dev/null
as_alice() { pg_psql "$DIR" "$PORT" "$DB" -At -U alice -c "$1"; }
check "another role sees no counters of a model it may not see" 0 "$(as_alice "SELECT count(*) FROM ssad.model_stats")"
check "nor through ssad.model_counters()" 0 "$(as_alice "SELECT count(*) FROM ssad.model_counters()")"
q "SELECT ssad_grant('m', 'alice')" >/dev/null
check "granted, it sees them" $((4 * N + 107)) "$(as_alice "SELECT rows_scored FROM ssad.model_stats WHERE name = 'm'")"
check "its own scoring counts" $((4 * N + 117)) \
    "$(then_stat -U alice "SELECT count(ssad_score('m', t)) FROM t WHERE id <= 10;")"
check "a role may not reset the counters" "permission denied for function stats_reset" \
    "$(as_alice "SELECT ssad.stats_reset()" 2>&1 | grep -o 'permission denied for function stats_reset')"
check "the counters survive the refused reset" $((4 * N + 117)) "$(stat rows_scored)"
q "SELECT ssad.stats_reset()" >/dev/null
check "a superuser resets them" "0 0 0" "$(stat "rows_scored || ' ' || rows_flagged || ' ' || topk_scans")"

# Retrained: the new version counts apart from the old one.
q "SELECT version FROM ssad_retrain('m')" >/dev/null
q "SELECT count(ssad_score('m', t)) FROM t WHERE id <= 50" >/dev/null
check "each version counts its own rows" "1:0,2:50" \
    "$(q "SELECT string_agg(version || ':' || rows_scored, ',' ORDER BY version) FROM ssad.model_stats WHERE name = 'm'")"

# Without the preload: this session's counts only, and they say so.
pg_stop "$DIR"
as_pg sed -i "s/^shared_preload_libraries = 'ssad'$//" "$DIR/data/postgresql.conf"
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
check "without the preload the counters are the session's" "session" "$(stat counted)"
check "a new session starts from no rows" 0 "$(stat rows_scored)"
check "a session sees its own rows" 30 \
    "$(then_stat "SELECT count(ssad_score('m', t)) FROM t WHERE id <= 30;")"
check "and not another session's" 0 "$(stat rows_scored)"
finish
