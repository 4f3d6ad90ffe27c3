-- The extension every other test uses, and a snapshot of its SQL surface.
CREATE EXTENSION ssad;
-- For the other tests (not part of the extension): run a statement and
-- return its SQLSTATE and message, or 'ok'.
CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT extname, extversion FROM pg_extension WHERE extname = 'ssad';
-- The public surface, snapshotted: every object the extension owns, and
-- whether it carries a comment. A change here is a deliberate change.
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) AS object,
       pg_catalog.obj_description(d.objid, cls.relname) IS NOT NULL AS documented
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssad'
  JOIN pg_catalog.pg_class cls ON cls.oid = d.classid
 WHERE d.deptype = 'e'
 ORDER BY 1;
-- The settings.
SELECT name, setting, short_desc FROM pg_catalog.pg_settings WHERE name LIKE 'ssad.%' ORDER BY 1;
-- Volatility and parallel safety of the functions.
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility, p.proparallel AS parallel, p.proisstrict AS strict
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssad'
 ORDER BY p.oid::regprocedure::text;
