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
-- A cancel while top-k streams a relation stops it too, and the next scan
-- works. The relation is a view whose rows cost at least 2 ms every 500
-- rows (over 50,000 rows, 200 ms at the very least, so a 100 ms timeout
-- fires inside the scan on any machine: the set-up before it takes a few ms),
-- and a sequence counts the rows it gave: the scan had started and was
-- stopped before the end.
CREATE SEQUENCE big_seen;
CREATE FUNCTION slow_row(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF n % 500 = 0 THEN PERFORM pg_sleep(0.002); END IF;
  RETURN true;
END $$;
CREATE VIEW big_slow AS SELECT a, b, c FROM big, LATERAL (SELECT nextval('big_seen') AS n) s WHERE slow_row(s.n);
SET statement_timeout = '100ms';
SELECT count(*) FROM ssad_top_anomalies('big_model', 'big_slow', 5);
RESET statement_timeout;
SELECT is_called AS scan_started, last_value < 50000 AS scan_stopped FROM big_seen;
SELECT count(*) AS top FROM ssad_top_anomalies('big_model', 'big', 5);
DROP VIEW big_slow;
DROP FUNCTION slow_row(bigint);
DROP SEQUENCE big_seen;
DROP TABLE big;
DELETE FROM ssad.models WHERE name = 'big_model';
