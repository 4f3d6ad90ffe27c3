-- The extension every other test uses; its objects are listed in surface.sql.
CREATE EXTENSION ssad;
SELECT extname, extversion FROM pg_extension WHERE extname = 'ssad';
