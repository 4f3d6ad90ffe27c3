//! `COMMENT ON` for every SQL function, so `\df+` and `\dd` explain them.

pgrx::extension_sql_file!("../sql/comments.sql", name = "comments", finalize);
