#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for the demo and the tests. Postgres refuses
# to run as root, so the server runs as the `postgres` OS user; clients connect
# over a unix socket in the cluster's own short /tmp directory.
# Source this file; it defines pg_start, pg_stop, pg_psql.

# Another PostgreSQL 15 installation (a relocated copy, say) through PG_BIN.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_pg() {
    if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# pg_start DIR PORT [extra postgresql.conf lines...]
pg_start() {
    local dir=$1 port=$2; shift 2
    pg_stop "$dir" 2>/dev/null || true
    rm -rf "$dir"
    mkdir -p "$dir"
    chown postgres:postgres "$dir" 2>/dev/null || true
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    {
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "fsync = off"
        echo "max_worker_processes = 16"
        for line in "$@"; do echo "$line"; done
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    # A clean environment, plus PG_ENV ("NAME=value ...") when a test sets it.
    # shellcheck disable=SC2086 # PG_ENV is meant to split
    as_pg env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE ${PG_ENV:-} "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
}

pg_stop() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    return 0
}

# pg_psql DIR PORT DB [psql args...]
pg_psql() {
    local dir=$1 port=$2 db=$3; shift 3
    psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"
}
