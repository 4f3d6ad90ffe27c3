#!/usr/bin/env bash
# Idempotent machine set-up: Debian packages, cargo-pgrx 0.18.1, `cargo pgrx init`.
# Each step is skipped when it is already done.
export PATH="$HOME/.cargo/bin:$PATH"
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES="postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-15-cron libclang-dev clang sudo gzip"

log() { printf '==> %s\n' "$*"; }

# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
# shellcheck disable=SC2086 # the list is meant to split
apt_ensure $APT_PACKAGES

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

# The style check of the test command needs rustfmt and clippy.
if ! { cargo fmt --version && cargo clippy --version; } >/dev/null 2>&1; then
    log "adding the rustfmt and clippy components"
    rustup component add rustfmt clippy
else
    log "rustfmt and clippy present"
fi
