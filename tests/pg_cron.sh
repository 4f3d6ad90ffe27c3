#!/usr/bin/env bash
# pg_cron, preloaded in a real cluster, runs scheduled ssad_retrain jobs: one
# in cron.database_name, one in another database through
# cron.schedule_in_database. Each produces a new active version. Two
# ssad_retrain_if_drifted jobs: the model whose table moved gets a new
# version, the one whose table stayed does not.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-cron PORT=5497 DB=ssad_it OTHER=ssad_other
it_cluster "$DIR" "$PORT" "$DB" "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$DB'" "cron.host = '$DIR'"
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE $OTHER"

# The launcher exits once while the database is missing, then restarts by itself.
for _ in $(seq 1 60); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")" = 1 ] && break
    sleep 1
done
check "pg_cron launcher running" 1 "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")"

q "CREATE EXTENSION pg_cron" >/dev/null
qdb "$OTHER" "CREATE EXTENSION ssad" >/dev/null
for db in "$DB" "$OTHER"; do
    qdb "$db" "CREATE TABLE metrics AS SELECT i AS id, (i % 30)::float8 AS cpu, (2 * (i % 30) + (i % 7) / 10.0)::float8 AS load FROM generate_series(1, 500) i" >/dev/null
    qdb "$db" "SELECT version FROM ssad_train('cron_model', 'metrics', exclude => ARRAY['id'], options => '{\"epochs\": 3}')" >/dev/null
done
# Retraining only when the data drifted: two more models, one on a table
# that stays as trained, one on a table whose cpu moves after training.
for t in steady moved; do
    q "CREATE TABLE $t AS SELECT i AS id, (i % 30)::float8 AS cpu, (2 * (i % 30) + (i % 7) / 10.0)::float8 AS load FROM generate_series(1, 3000) i" >/dev/null
    q "SELECT version FROM ssad_train('${t}_model', '$t', exclude => ARRAY['id'], options => '{\"epochs\": 3}')" >/dev/null
done
q "UPDATE moved SET cpu = cpu + 15" >/dev/null
check "ssad_drift sees the moved table" "t" "$(q "SELECT bool_or(drifted) FROM ssad_drift('moved_model')")"
check "ssad_drift sees the steady table as trained" "f" "$(q "SELECT bool_or(drifted) FROM ssad_drift('steady_model')")"
job=$(q "SELECT cron.schedule('ssad-retrain', '* * * * *', \$\$SELECT ssad_retrain('cron_model')\$\$)")
job2=$(q "SELECT cron.schedule_in_database('ssad-retrain-other', '* * * * *', \$\$SELECT ssad_retrain('cron_model')\$\$, '$OTHER')")
job3=$(q "SELECT cron.schedule('ssad-if-drifted-steady', '* * * * *', \$\$SELECT ssad_retrain_if_drifted('steady_model')\$\$)")
job4=$(q "SELECT cron.schedule('ssad-if-drifted-moved', '* * * * *', \$\$SELECT ssad_retrain_if_drifted('moved_model')\$\$)")
check "jobs scheduled" 4 "$(q "SELECT count(*) FROM cron.job WHERE jobid IN ($job, $job2, $job3, $job4)")"

# pg_cron has minute granularity: wait up to ~2.5 minutes for both runs.
for _ in $(seq 1 150); do
    done_runs=$(q "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE jobid IN ($job, $job2, $job3, $job4) AND status IN ('succeeded', 'failed')")
    [ "$done_runs" = 4 ] && break
    sleep 1
done
for j in "$job" "$job2" "$job3" "$job4"; do
    status=$(q "SELECT status FROM cron.job_run_details WHERE jobid = $j AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    check "cron run of job $j succeeded" succeeded "$status"
    [ "$status" = failed ] && q "SELECT return_message FROM cron.job_run_details WHERE jobid = $j"
done
q "SELECT cron.unschedule($job)" >/dev/null
q "SELECT cron.unschedule($job2)" >/dev/null
q "SELECT cron.unschedule($job3)" >/dev/null
q "SELECT cron.unschedule($job4)" >/dev/null
check "the drifted model was retrained: version 2 active" "2|t" "$(q "SELECT version, active FROM ssad.models WHERE name = 'moved_model' AND active")"
check "the steady model was not: version 1 alone" "1|1" "$(q "SELECT count(*), max(version) FROM ssad.models WHERE name = 'steady_model'")"
check "the retrained model no longer sees drift" "f" "$(q "SELECT bool_or(drifted) FROM ssad_drift('moved_model')")"
for db in "$DB" "$OTHER"; do
    check "$db: retrained version 2 is active" "2|t" "$(qdb "$db" "SELECT version, active FROM ssad.models WHERE name = 'cron_model' AND active")"
    check "$db: version 1 kept" 2 "$(qdb "$db" "SELECT count(*) FROM ssad.models WHERE name = 'cron_model'")"
    check "$db: scores with the new version" t "$(qdb "$db" "SELECT bool_and(ssad_score('cron_model', m) > 0) FROM metrics m")"
done
finish
