#!/usr/bin/env bash
# ssad on Citus 13.2.2: a coordinator and two workers on this machine (a third
# worker joins late). A 200,000-row distributed table with numeric, text and
# timestamp columns, and a local copy of it on the coordinator. Training samples
# the shards; models reach every worker (train, retrain also from pg_cron,
# activate, rename, grant, revoke, drop); distributed scores and top-k equal
# the local copy's bit for bit; a retrain while a worker is down leaves it
# stale until ssad_sync repairs it; a worker added later gets the models from
# ssad_sync(); a role cannot change another role's model on a worker (42501).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Citus is built from the shared source (skipped when installed); needs root.
BUILD=$REPO/../shared/citus/build.sh
[ -f "$BUILD" ] || BUILD=/work/shared/citus/build.sh
if [ ! -f "$BUILD" ]; then
    echo "FAIL - citus build script: neither $REPO/../shared/citus/build.sh nor /work/shared/citus/build.sh exists"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then bash "$BUILD"; else sudo bash "$BUILD"; fi

DB=ssad_it
C=/tmp/ssad-it-citus0 PC=5560
W1=/tmp/ssad-it-citus1 P1=5561
W2=/tmp/ssad-it-citus2 P2=5562
W3=/tmp/ssad-it-citus3 P3=5563
trap 'for d in $C $W1 $W2 $W3; do pg_stop $d; done' EXIT

node() { # node DIR PORT [conf...]: a Citus node with database DB and citus in it
    local dir=$1 port=$2; shift 2
    pg_start "$dir" "$port" "listen_addresses = 'localhost'" "max_connections = 200" "$@"
    pg_psql "$dir" "$port" postgres -c "CREATE DATABASE $DB"
    pg_psql "$dir" "$port" "$DB" -c "CREATE EXTENSION citus" >/dev/null
}
# qn DIR PORT SQL [ROLE]: one statement on a node (as ROLE), unaligned, exact floats.
qn() {
    local role=${4:-postgres}
    psql -X -q -At -h "$1" -p "$2" -U "$role" -d "$DB" \
        -c "SET client_min_messages = warning; SET extra_float_digits = 3; $3" 2>&1 | grep -v '^SET$' || true
}
qc() { qn "$C" "$PC" "$@"; }
q1() { qn "$W1" "$P1" "$@"; }
q2() { qn "$W2" "$P2" "$@"; }
# sqlstate DIR PORT ROLE SQL: the SQLSTATE the statement fails with ("ok" when it does not).
sqlstate() {
    local out
    out=$(psql -X -q -At -h "$1" -p "$2" -U "$3" -d "$DB" -v VERBOSITY=sqlstate -c "$4" 2>&1 >/dev/null || true)
    out=$(echo "$out" | grep -o 'ERROR:  [0-9A-Z]\{5\}' | head -1 | cut -c9-)
    echo "${out:-ok}"
}
now() { date +%s.%N; }
rate() { echo "$1 $2 $3" | awk '{printf "%.0f", $1 / ($3 - $2)}'; }

node "$C" "$PC" "shared_preload_libraries = 'citus,pg_cron'" "cron.database_name = '$DB'" "cron.host = '$C'"
node "$W1" "$P1" "shared_preload_libraries = 'citus'"
node "$W2" "$P2" "shared_preload_libraries = 'citus'"
qc "SELECT citus_set_coordinator_host('localhost', $PC)" >/dev/null
qc "SELECT citus_add_node('localhost', $P1)" >/dev/null
qc "SELECT citus_add_node('localhost', $P2)" >/dev/null
# Citus creates the extension on every worker too.
qc "CREATE EXTENSION ssad" >/dev/null
for w in q1 q2; do
    check "ssad created on the worker ($w)" 0.5.0 "$($w "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")"
done

# 200,000 rows over 32 shards: a numeric, a text, a timestamp and a float,
# with rare anomalies (huge amounts of a kind never seen otherwise).
qc "CREATE TABLE pay (id bigint PRIMARY KEY, amount numeric(12,2), kind text, at timestamptz, x float8)" >/dev/null
qc "SELECT create_distributed_table('pay', 'id')" >/dev/null
qc "INSERT INTO pay SELECT i, round((50 + 30 * sin(i) + (i % 97))::numeric, 2),
           (ARRAY['card','wire','cash','check'])[1 + i % 4],
           timestamptz '2026-01-01 00:00+00' + i * interval '37 seconds',
           (i % 17) * 1.5 + (i % 5) + sin(i * 7) / 10
      FROM generate_series(1, 200000) i" >/dev/null
qc "UPDATE pay SET amount = 90000 + id % 1000, kind = 'crypto' WHERE id % 9973 = 0" >/dev/null
qc "CREATE TABLE pay_local AS SELECT * FROM pay ORDER BY id" >/dev/null
check "distributed table has 32 shards" 32 "$(qc "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'pay'::regclass")"
check "rows" 200000 "$(qc "SELECT count(*) FROM pay")"

# Training samples the shards: about 10% more rows than the sample reach the coordinator.
# (A Bernoulli sample of 11.5%: 23,000 rows expected, 143 their standard deviation.)
train=$(qc "SELECT rows_used || '|' || (rows_scanned BETWEEN 22000 AND 24000) FROM ssad_train('pm', 'pay', exclude => ARRAY['id'],
              options => '{\"epochs\": 2, \"sample_size\": 20000}')")
check "training used 20,000 rows of about 23,000 read, not the table's 200,000" "20000|true" "$train"
check "the model records the table's size" 200000 "$(qc "SELECT metrics->>'rows_in_table' FROM ssad.models WHERE name = 'pm'")"

# st MODEL: one model's catalog rows, as every node should hold them.
st() { echo "SELECT COALESCE(string_agg(format('%s:%s:%s', version, active, md5(model)), ',' ORDER BY version), '-') FROM ssad.models WHERE name = '$1'"; }
grants="SELECT COALESCE(string_agg(name || '>' || grantee, ',' ORDER BY name, grantee), '-') FROM ssad.model_grants"
NODES="qc q1 q2"
everywhere() { # everywhere WHAT MODEL EXPECTED: every node's rows of MODEL are EXPECTED
    local n
    for n in $NODES; do check "$1 ($n)" "$3" "$($n "$(st "$2")")"; done
}
md5of() { qc "SELECT md5(model) FROM ssad.models WHERE name = '$1' AND version = $2"; }
v1=$(md5of pm 1)
everywhere "trained model on every node" pm "1:t:$v1"

# Inline scores: the distributed query runs on the shards, bit for bit the local copy's.
scores() { echo "SELECT md5(string_agg(id || ':' || ssad_score('$1', t)::text, ',' ORDER BY id)) FROM $2 t"; }
check "the score is pushed down to the 32 shards" 1 \
    "$(qc "EXPLAIN (VERBOSE) SELECT id, ssad_score('pm', t) FROM pay t" | grep -c 'Task Count: 32')"
local_scores=$(qc "$(scores pm pay_local)")
check "distributed scores equal the local copy's (200,000 rows)" "$local_scores" "$(qc "$(scores pm pay)")"
check "ssad_score(t) finds the model by the distributed table on the workers" "$local_scores" \
    "$(qc "SELECT md5(string_agg(id || ':' || ssad_score(t)::text, ',' ORDER BY id)) FROM pay t")"
check "no score differs" 0 "$(qc "SELECT count(*) FROM (SELECT id, ssad_score('pm', t) AS s FROM pay t) d
                                  JOIN (SELECT id, ssad_score('pm', t) AS s FROM pay_local t) l USING (id)
                                 WHERE d.s IS DISTINCT FROM l.s")"

# Top-k: per shard on the workers, merged: same rows and scores as the local copy's.
# topk TABLE [MODEL [K]]: the top rows as id:score:top_column, in top-k's order.
topk() { echo "SELECT string_agg((row_data->>'id') || ':' || score::text || ':' || top_column, ',' ORDER BY n) FROM ssad_top_anomalies('${2:-pm}', '$1', ${3:-25}) WITH ORDINALITY AS t(ctid, score, quantile, top_column, row_data, n)"; }
check "top-k of the distributed table equals the local copy's" "$(qc "$(topk pay_local)")" "$(qc "$(topk pay)")"
check "top-k finds the 20 planted anomalies first" 20 \
    "$(qc "SELECT count(*) FROM (SELECT row_data FROM ssad_top_anomalies('pm', 'pay', 20)) t WHERE row_data->>'kind' = 'crypto'")"
check "each top row's shard and ctid hold it" 25 \
    "$(qc "SELECT count(*) FROM ssad_shard_top_anomalies('pm', 'pay', 25) s
            WHERE s.shardid = get_shard_id_for_distribution_column('pay', (s.row_data->>'id')::bigint)
              AND s.shard = 'public.pay_' || s.shardid")"
# The ctid is the row's in its shard, on the worker holding the shard.
found=0
while IFS='|' read -r shard ctid port row; do
    [ "$(qn /tmp/ssad-it-citus$((port - 5560)) "$port" "SELECT to_jsonb(t.*) = '$row'::jsonb FROM $shard t WHERE ctid = '$ctid'")" = t ] && found=$((found + 1))
done < <(qc "SELECT s.shard, s.ctid, p.nodeport, s.row_data FROM ssad_shard_top_anomalies('pm', 'pay', 5) s
              JOIN pg_dist_shard_placement p USING (shardid)")
check "each top row's ctid holds it in its shard, on its worker" 5 "$found"
check "ssad_shard_top_anomalies refuses a local table" 0A000 "$(sqlstate "$C" "$PC" postgres "SELECT * FROM ssad_shard_top_anomalies('pm', 'pay_local')")"

# Throughput, same table, same run, interleaved (printed for
# docs/scale-out.md, not checked): the median of 5 runs of each.
median() { tr ' ' '\n' | sort -n | sed -n 3p; }
ds="" ls="" dt="" lt=""
for _ in 1 2 3 4 5; do
    t0=$(now); qc "SELECT count(ssad_score('pm', t)) FROM pay t" >/dev/null; t1=$(now)
    qc "SELECT count(ssad_score('pm', t)) FROM pay_local t" >/dev/null; t2=$(now)
    qc "SELECT count(*) FROM ssad_top_anomalies('pm', 'pay', 10)" >/dev/null; t3=$(now)
    qc "SELECT count(*) FROM ssad_top_anomalies('pm', 'pay_local', 10)" >/dev/null; t4=$(now)
    ds="$ds $(rate 200000 "$t0" "$t1")" ls="$ls $(rate 200000 "$t1" "$t2")"
    dt="$dt $(rate 200000 "$t2" "$t3")" lt="$lt $(rate 200000 "$t3" "$t4")"
done
echo "# throughput (rows/s, 200,000 rows; runs:$ds |$ls |$dt |$lt)"
echo "# median: inline scoring distributed $(echo $ds | median) local $(echo $ls | median);" \
     "top-k distributed $(echo $dt | median) local $(echo $lt | median)"

# Retrain in one coordinator session that scored before: the workers' model
# caches (Citus keeps its connections to them) take the new version at once.
session=$(psql -X -q -At -h "$C" -p "$PC" -U postgres -d "$DB" <<SQL 2>&1
SET client_min_messages = warning; SET extra_float_digits = 3;
$(scores pm pay);
SELECT version FROM ssad_retrain('pm');
$(scores pm pay);
SQL
)
check "retrain gives version 2" 2 "$(echo "$session" | sed -n 2p)"
check "the session's next distributed query scores with version 2, as the local copy" \
    "$(qc "$(scores pm pay_local)")" "$(echo "$session" | sed -n 3p)"
v2=$(md5of pm 2)
everywhere "retrained version active on every node" pm "1:f:$v1,2:t:$v2"

# pg_cron on the coordinator retrains; the new version is active everywhere.
for _ in $(seq 1 60); do
    [ "$(qc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")" = 1 ] && break
    sleep 1
done
qc "SET citus.enable_ddl_propagation = off; CREATE EXTENSION pg_cron" >/dev/null
job=$(qc "SELECT cron.schedule('ssad-retrain', '* * * * *', \$\$SELECT ssad_retrain('pm')\$\$)")
for _ in $(seq 1 150); do
    [ "$(qc "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed')")" != 0 ] && break
    sleep 1
done
qc "SELECT cron.unschedule($job)" >/dev/null
check "pg_cron's retrain succeeded" succeeded "$(qc "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")"
v3=$(md5of pm 3)
everywhere "pg_cron's version active on every node" pm "1:f:$v1,2:f:$v2,3:t:$v3"
check "distributed scores use version 3" "$(qc "$(scores pm pay_local)")" "$(qc "$(scores pm pay)")"

# Activate (rollback) and rename reach every node.
qc "SELECT ssad_activate('pm', 2)" >/dev/null
everywhere "activated version 2 everywhere" pm "1:f:$v1,2:t:$v2,3:f:$v3"
check "distributed scores use version 2 again" "$(qc "$(scores pm pay_local)")" "$(qc "$(scores pm pay)")"
qc "SELECT ssad_rename('pm', 'pay_model')" >/dev/null
everywhere "renamed everywhere" pay_model "1:f:$v1,2:t:$v2,3:f:$v3"
everywhere "the old name is gone" pm "-"

# Grant and revoke reach every node: a role scores the distributed table only while granted.
qc "CREATE ROLE analyst LOGIN; GRANT SELECT ON pay TO analyst" >/dev/null
qc "SELECT ssad_grant('pay_model', 'analyst')" >/dev/null
for w in qc q1 q2; do check "grant on every node ($w)" "pay_model>analyst" "$($w "$grants")"; done
check "the granted role scores the distributed table" 200000 "$(qc "SELECT count(ssad_score('pay_model', t)) FROM pay t" analyst)"
qc "SELECT ssad_revoke('pay_model', 'analyst')" >/dev/null
for w in qc q1 q2; do check "revoke on every node ($w)" "-" "$($w "$grants")"; done
check "after the revoke, the workers refuse the role" 42501 "$(sqlstate "$C" "$PC" analyst "SELECT count(ssad_score('pay_model', t)) FROM pay t")"

# A worker down. A retrain of a model on the distributed table cannot read
# the shards there: it fails, and no node changes. A retrain of a model on a
# coordinator table succeeds: the coordinator and worker 1 take the new
# version, a WARNING names worker 2 and the repair; back up, worker 2 is
# stale until ssad_sync('loc'), which repairs it (and is idempotent).
qc "CREATE TABLE small AS SELECT i AS id, (i % 13)::float8 AS a, (i % 7)::float8 * 2 + (i % 13) AS b FROM generate_series(1, 400) i" >/dev/null
qc "CREATE TABLE small_dist (LIKE small); SELECT create_distributed_table('small_dist', 'id'); INSERT INTO small_dist SELECT * FROM small" >/dev/null
qc "SELECT version FROM ssad_train('loc', 'small', exclude => ARRAY['id'], options => '{\"epochs\": 1}')" >/dev/null
l1=$(md5of loc 1)
pg_stop "$W2"
out=$(psql -X -q -At -h "$C" -p "$PC" -U postgres -d "$DB" -c "SELECT version FROM ssad_retrain('pay_model')" 2>&1 || true)
check "retrain over the shards with a worker down fails" 1 "$(echo "$out" | grep -c '^ERROR:')"
check "  and changes nothing on the coordinator" "1:f:$v1,2:t:$v2,3:f:$v3" "$(qc "$(st pay_model)")"
check "  nor on worker 1" "1:f:$v1,2:t:$v2,3:f:$v3" "$(q1 "$(st pay_model)")"
out=$(psql -X -q -At -h "$C" -p "$PC" -U postgres -d "$DB" -c "SELECT version FROM ssad_retrain('loc')" 2>&1 || true)
check "retrain of a coordinator table's model with a worker down succeeds" 2 "$(echo "$out" | grep -x '[0-9]*')"
check "the WARNING names the worker and the repair" 1 "$(echo "$out" | grep -c "WARNING:.*did not reach Citus worker localhost:$P2.*ssad_sync('loc')")"
as_pg "$PG_BIN/pg_ctl" -D "$W2/data" -l "$W2/server.log" -w -t 60 start >/dev/null
l2=$(md5of loc 2)
check "worker 1 took version 2" "1:f:$l1,2:t:$l2" "$(q1 "$(st loc)")"
check "worker 2 is stale until the sync" "1:t:$l1" "$(q2 "$(st loc)")"
check "top-k refuses to merge a stale worker's answer" 55000 "$(sqlstate "$C" "$PC" postgres "SELECT * FROM ssad_top_anomalies('loc', 'small_dist', 5)")"
check "ssad_sync reaches both workers" "true,true" "$(qc "SELECT string_agg(success::text, ',' ORDER BY node_port) FROM ssad_sync('loc')")"
everywhere "the sync repaired worker 2" loc "1:f:$l1,2:t:$l2"
ids="SELECT string_agg(id::text, ',' ORDER BY version) FROM ssad.models WHERE name = 'loc'"
before=$(q2 "$ids")
qc "SELECT * FROM ssad_sync('loc')" >/dev/null
check "a second sync changes nothing (same rows: the caches keep them)" "$before" "$(q2 "$ids")"
check "distributed scores after the repair equal the local table's" "$(qc "$(scores loc small)")" "$(qc "$(scores loc small_dist)")"
# Many rows score the same (every row repeats every 91): equal scores go by
# id (the distribution column), as in a local table loaded in id order. The
# distributed table is loaded in reverse, on 4 shards: a shard's own top k
# ends in a tie whose rows of smaller id it scanned last, and it is asked
# for the rest of that tie.
qc "CREATE TABLE tie_local AS SELECT i AS id, (i % 13)::float8 AS a, (i % 7)::float8 * 2 + (i % 13) AS b FROM generate_series(1, 2000) i" >/dev/null
qc "CREATE TABLE tie_dist (LIKE tie_local); SELECT create_distributed_table('tie_dist', 'id', shard_count => 4);
    INSERT INTO tie_dist SELECT * FROM tie_local ORDER BY id DESC" >/dev/null
for k in 25 3 5 9 14; do
    check "top-$k (with ties) equals the local table's" "$(qc "$(topk tie_local loc $k)")" "$(qc "$(topk tie_dist loc $k)")"
done

# A drop while a worker is down: the sync removes it there.
qc "SELECT version FROM ssad_train('tmp', 'small', options => '{\"epochs\": 1}')" >/dev/null
check "tmp on worker 2" 1 "$(q2 "SELECT count(*) FROM ssad.models WHERE name = 'tmp'")"
pg_stop "$W2"
qc "SELECT ssad_drop('tmp')" >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$W2/data" -l "$W2/server.log" -w -t 60 start >/dev/null
check "the drop reached worker 1" 0 "$(q1 "SELECT count(*) FROM ssad.models WHERE name = 'tmp'")"
check "worker 2 missed the drop" 1 "$(q2 "SELECT count(*) FROM ssad.models WHERE name = 'tmp'")"
qc "SELECT * FROM ssad_sync('tmp')" >/dev/null
check "ssad_sync of a dropped model removes it from worker 2" 0 "$(q2 "SELECT count(*) FROM ssad.models WHERE name = 'tmp'")"

# Hostile: mallory owns a model of her own; on a worker, she can neither
# drop, overwrite nor take over another role's model through ssad.apply_models,
# nor store a model in another role's name; her ssad_sync() leaves others' alone.
qc "CREATE ROLE mallory LOGIN; GRANT SELECT ON small TO mallory" >/dev/null
qc "SELECT version FROM ssad_train('mal', 'small', options => '{\"epochs\": 1}')" mallory >/dev/null
check "mallory's model on worker 1, owned by her" "mallory" "$(q1 "SELECT DISTINCT owner FROM ssad.models WHERE name = 'mal'")"
mal_state=$(qc "SELECT jsonb_build_object('models', jsonb_build_object('X', jsonb_build_object('versions',
                  jsonb_agg(jsonb_build_object('version', version, 'source', source, 'train_args', train_args,
                    'columns', columns, 'options', options, 'metrics', metrics, 'format_version', format_version,
                    'model', encode(model, 'base64'), 'owner', owner, 'created_at', created_at, 'active', active,
                    'high_water', high_water)), 'grants', '[]'::jsonb)))::text FROM ssad.models WHERE name = 'mal'" mallory)
as_owner() { echo "$mal_state" | sed "s/\"X\"/\"$1\"/; s/\"owner\": \"mallory\"/\"owner\": \"$2\"/"; }
check "mallory cannot drop pay_model on a worker" 42501 \
    "$(sqlstate "$W1" "$P1" mallory "SELECT ssad.apply_models('{\"models\": {\"pay_model\": {\"versions\": [], \"grants\": []}}}')")"
check "mallory cannot overwrite pay_model with her model on a worker" 42501 \
    "$(sqlstate "$W1" "$P1" mallory "SELECT ssad.apply_models('$(as_owner pay_model mallory)')")"
check "mallory cannot store a model owned by postgres on a worker" 42501 \
    "$(sqlstate "$W1" "$P1" mallory "SELECT ssad.apply_models('$(as_owner fake postgres)')")"
check "mallory cannot grant herself pay_model on a worker" 42501 \
    "$(sqlstate "$W1" "$P1" mallory "SELECT ssad.apply_models('{\"models\": {\"pay_model\": {\"versions\": [], \"grants\": [\"mallory\"]}}}')")"
check "mallory cannot sync pay_model from the coordinator" 42501 "$(sqlstate "$C" "$PC" mallory "SELECT * FROM ssad_sync('pay_model')")"
check "mallory's ssad_sync() succeeds" "true,true" "$(qc "SELECT string_agg(success::text, ',' ORDER BY node_port) FROM ssad_sync()" mallory)"
everywhere "pay_model untouched by mallory" pay_model "1:f:$v1,2:t:$v2,3:f:$v3"
check "mallory may re-store her own model on a worker" 1 "$(q1 "SELECT ssad.apply_models('$(as_owner mal mallory)')" mallory)"

# A worker added later (Citus creates ssad on it) gets every model from one ssad_sync().
node "$W3" "$P3" "shared_preload_libraries = 'citus'"
qc "SELECT citus_add_node('localhost', $P3)" >/dev/null
q3() { qn "$W3" "$P3" "$@"; }
check "ssad created on the new worker" 0.5.0 "$(q3 "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")"
check "the new worker has no models yet" 0 "$(q3 "SELECT count(*) FROM ssad.models")"
check "ssad_sync() reaches the three workers" "true,true,true" "$(qc "SELECT string_agg(success::text, ',' ORDER BY node_port) FROM ssad_sync()")"
NODES="qc q1 q2 q3"
for m in pay_model loc mal; do everywhere "the new worker has $m" "$m" "$(qc "$(st "$m")")"; done

# Drop reaches every node.
qc "SELECT ssad_drop('pay_model')" >/dev/null
everywhere "pay_model dropped" pay_model "-"
check "scoring a dropped model fails" 42704 "$(sqlstate "$C" "$PC" postgres "SELECT count(ssad_score('pay_model', t)) FROM pay t")"

# Without workers (a plain cluster has no Citus): nothing to sync.
check "ssad_sync on a worker does nothing" "" "$(q1 "SELECT * FROM ssad_sync()")"
finish
