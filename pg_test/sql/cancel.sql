-- statement_timeout (like a cancel) stops training between batches; the
-- catalog is unchanged and the session goes on.
SET client_min_messages = warning;
CREATE TABLE big AS SELECT i AS a, (i % 97)::float8 AS b, sqrt(i)::float8 AS c FROM generate_series(1, 50000) AS i;
SELECT version FROM ssad_train('big_model', 'big', options => '{"epochs": 2, "sample_size": 1000}');
SET statement_timeout = '500ms';
SELECT ssad_train('big_model', 'big', options => '{"epochs": 1000}');
RESET statement_timeout;
SELECT version, active FROM ssad.models WHERE name = 'big_model';
SELECT ssad_score('big_model', t) > 0 AS still_scores FROM big t WHERE a = 1;
-- A cancel while top-k streams the table stops it too, and the next scan
-- works. 2,000,000 rows take about 450 ms in a release build (the executor
-- feeding our receiver row by row the whole time), the set-up before the
-- scan a few: a timeout of 100 ms falls inside the scan with room on both
-- sides (600,000 rows, once enough, became faster than the timeout).
INSERT INTO big SELECT i, (i % 97)::float8, sqrt(i)::float8 FROM generate_series(50001, 2000000) AS i;
SET statement_timeout = '100ms';
SELECT count(*) FROM ssad_top_anomalies('big_model', 'big', 5);
RESET statement_timeout;
SELECT count(*) AS top FROM ssad_top_anomalies('big_model', 'big', 5);
DROP TABLE big;
DELETE FROM ssad.models WHERE name = 'big_model';
