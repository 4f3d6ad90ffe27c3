#!/usr/bin/env bash
# Builds a Debian package of ssad for Debian's PostgreSQL 15, to install on a
# server without Rust: target/package/postgresql-15-ssad_VERSION-1_ARCH.deb,
# and the same files as a tarball with an install script for other layouts.
# The package holds the release build of `cargo pgrx package` (ssad.so, the
# control file, the install and upgrade scripts); ssad.so links only libc,
# libm and libgcc_s. Usage: bash scripts/package.sh (prints the .deb's path).
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

bash scripts/setup.sh >&2
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
cargo pgrx package --pg-config "$PG_CONFIG" >&2
STAGE=target/release/ssad-pg15
OUT=target/package
NAME=postgresql-15-ssad
DEB=$OUT/${NAME}_${VERSION}-1_${ARCH}.deb
rm -rf "$OUT/deb" "$OUT/tar"
mkdir -p "$OUT/deb/DEBIAN" "$OUT/deb/usr/share/doc/$NAME"
cp -a "$STAGE/usr" "$OUT/deb/"
cp README.md "$OUT/deb/usr/share/doc/$NAME/"
printf 'ssad %s\nLicense: MIT\nSource: the ssad repository (Cargo.toml)\n' "$VERSION" \
    > "$OUT/deb/usr/share/doc/$NAME/copyright"
# The newest glibc symbol version ssad.so needs, for the libc6 dependency.
glibc=$(objdump -T "$STAGE/usr/lib/postgresql/15/lib/ssad.so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
cat > "$OUT/deb/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION-1
Architecture: $ARCH
Maintainer: ssad maintainers <ssad@localhost>
Depends: postgresql-15, libc6 (>= $glibc), libgcc-s1
Section: database
Priority: optional
Installed-Size: $(du -sk "$OUT/deb/usr" | cut -f1)
Homepage: https://pgxn.org/dist/ssad/
Description: self-supervised anomaly detection inside PostgreSQL 15
 ssad trains a masked-column model over a table (no labels needed) and
 scores rows inline in any query, trigger or view, or scans a whole table
 for its top anomalies with the columns that made each one anomalous.
 Install, then CREATE EXTENSION ssad in a database.
EOF
dpkg-deb --build --root-owner-group "$OUT/deb" "$DEB" >&2

# The tarball: the same tree, and an installer for a PostgreSQL 15 found by
# its pg_config (any layout, not only Debian's).
mkdir -p "$OUT/tar/ssad-$VERSION"
cp "$STAGE/usr/lib/postgresql/15/lib/ssad.so" "$OUT/tar/ssad-$VERSION/"
cp "$STAGE"/usr/share/postgresql/15/extension/ssad* "$OUT/tar/ssad-$VERSION/"
cat > "$OUT/tar/ssad-$VERSION/install.sh" <<'EOF'
#!/bin/sh
# Installs ssad into the PostgreSQL 15 whose pg_config is $PG_CONFIG (default:
# the first pg_config on PATH). Run as a user who may write its directories.
set -eu
PG_CONFIG=${PG_CONFIG:-pg_config}
HERE=$(cd "$(dirname "$0")" && pwd)
case "$("$PG_CONFIG" --version)" in "PostgreSQL 15."*) ;; *) echo "ssad is built for PostgreSQL 15" >&2; exit 1 ;; esac
install -m 755 "$HERE/ssad.so" "$("$PG_CONFIG" --pkglibdir)/"
for f in "$HERE"/ssad.control "$HERE"/ssad--*.sql; do install -m 644 "$f" "$("$PG_CONFIG" --sharedir)/extension/"; done
echo "ssad installed; CREATE EXTENSION ssad in a database to use it"
EOF
chmod 755 "$OUT/tar/ssad-$VERSION/install.sh"
tar -czf "$OUT/ssad-$VERSION-pg15-$ARCH.tar.gz" -C "$OUT/tar" "ssad-$VERSION"
echo "$DEB"
