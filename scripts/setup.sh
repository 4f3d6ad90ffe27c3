#!/usr/bin/env bash
# Idempotent machine set-up: Debian packages, cargo-pgrx 0.18.1, `cargo pgrx init`.
# Each step is skipped when it is already done.
export PATH="$HOME/.cargo/bin:$PATH"
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES="postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-15-cron libclang-dev clang sudo gzip"

log() { printf '==> %s\n' "$*"; }

missing=""
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
else
    log "Debian packages present"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "installing cargo-pgrx $PGRX_VERSION (about 7 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
else
    log "cargo-pgrx $PGRX_VERSION present"
fi

# `cargo pgrx init` rewrites its config (forcing a pgrx-pg-sys rebuild): run it only when needed.
if ! grep -qs "^pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init --pg15 $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG"
else
    log "pgrx already initialised for PostgreSQL 15"
fi
