#!/usr/bin/env bash
# The core's tests on aarch64, on an x86-64 machine: cross-compiled and run
# under user-mode QEMU, so the NEON kernels are checked against the scalar
# reference (and the whole core against its tests) without ARM hardware.
# Installs what it needs: Debian's gcc-aarch64-linux-gnu and qemu-user, and
# rustup's aarch64-unknown-linux-gnu standard library. QEMU times nothing
# useful: this checks results, not speed.
# Usage: bash scripts/test-aarch64.sh [cargo test filter...]   (about 6 minutes in all)
export PATH="$HOME/.cargo/bin:$PATH"
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
log() { printf '==> %s\n' "$*"; }

# shellcheck source=scripts/apt.sh
. scripts/apt.sh
apt_ensure gcc-aarch64-linux-gnu qemu-user
if ! rustup target list --installed | grep -qx "$TARGET"; then
    log "rustup target add $TARGET"
    rustup target add "$TARGET"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# Its own target directory: the host build's artefacts stay as they are.
log "cargo test -p ssad-core on $TARGET under qemu-aarch64"
cargo test --release -p ssad-core --target "$TARGET" --target-dir target/aarch64 "$@"
