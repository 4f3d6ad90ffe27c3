-- The extension every other test uses; its objects are listed in surface.sql.
CREATE EXTENSION ssad;
SELECT extname, extversion FROM pg_extension WHERE extname = 'ssad';
-- Every function is documented.
SELECT p.proname, pg_catalog.obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssad'
 ORDER BY 1;
