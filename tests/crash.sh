#!/usr/bin/env bash
# Nothing is lost on a crash: the server is killed (SIGKILL, no shutdown)
# while a retrain runs; after crash recovery the committed model versions
# score exactly as before and no half-written version exists.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-crash PORT=5490 DB=crash
it_cluster "$DIR" "$PORT" "$DB"
q "CREATE TABLE t AS SELECT i AS id, (i % 40)::float8 AS x, (3 * (i % 40) + (i % 11) / 10.0)::float8 AS y FROM generate_series(1, 200000) i" >/dev/null
q "SELECT version FROM ssad_train('m', 't', exclude => ARRAY['id'], options => '{\"epochs\": 2}')" >/dev/null
scores_sql="SELECT md5(string_agg(ssad_score('m', t)::text, ',' ORDER BY id)) FROM t WHERE id <= 5000"
before=$(q "$scores_sql")
catalog_sql="SELECT string_agg(format('%s/%s/%s', version, active, md5(model)), ',' ORDER BY version) FROM ssad.models"
# (train_args is changed below to make the retrain long; the check covers the model itself)
cat_before=$(q "$catalog_sql")

# A long retrain in another session; SIGKILL its backend mid-training. Postgres
# treats that as a crash: every backend is reset and the cluster runs crash
# recovery from the WAL, as after a power loss.
q "UPDATE ssad.models SET train_args = jsonb_set(train_args, '{options,epochs}', '1000')" >/dev/null
pg_psql "$DIR" "$PORT" "$DB" -c "SET client_min_messages = warning; SELECT ssad_retrain('m')" >/dev/null 2>&1 &
victim=""
for _ in $(seq 1 100); do
    victim=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%ssad_retrain%' AND pid <> pg_backend_pid()")
    [ -n "$victim" ] && break
    sleep 0.1
done
sleep 1
kill -9 "$victim"
wait || true
for _ in $(seq 1 100); do
    [ "$(q "SELECT 1" 2>/dev/null)" = 1 ] && break
    sleep 0.2
done

check "the backend was killed mid-training" t "$([ -n "$victim" ] && echo t || echo f)"
check "the cluster ran crash recovery" t "$(grep -q 'terminated by signal 9' "$DIR/server.log" && grep -q 'all server processes terminated; reinitializing' "$DIR/server.log" && echo t || echo f)"
check "catalog identical after recovery (no half-written version)" "$cat_before" "$(q "$catalog_sql")"
check "scores identical after recovery" "$before" "$(q "$scores_sql")"
q "UPDATE ssad.models SET train_args = jsonb_set(train_args, '{options,epochs}', '2')" >/dev/null
check "training works after recovery" 2 "$(q "SELECT version FROM ssad_retrain('m')")"
finish
