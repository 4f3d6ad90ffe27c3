#!/usr/bin/env bash
# The Debian package of scripts/package.sh installs with dpkg into a clean
# PostgreSQL 15 (a copy of Debian's, relocated under a root of its own with
# its own dpkg database, and no ssad in it) and works there: CREATE
# EXTENSION, a training, a score, a top-k scan. Also checks the package's
# metadata, that ssad.so needs no Rust library, the tarball's installer, and
# that META.json (PGXN) names Cargo.toml's version.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"
DIR=/tmp/ssad-it-package PORT=5494 DB=ssad_it

deb=$(bash scripts/package.sh | tail -1)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
check "package built" "yes" "$([ -f "$deb" ] && echo yes || echo no)"
check "package version" "$version-1" "$(dpkg-deb -f "$deb" Version)"
check "package depends on PostgreSQL 15" "yes" "$(dpkg-deb -f "$deb" Depends | grep -q '^postgresql-15,' && echo yes || echo no)"
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/lib/postgresql/15/lib/ssad.so ./usr/share/postgresql/15/extension/ssad.control \
         "./usr/share/postgresql/15/extension/ssad--$version.sql" ./usr/share/postgresql/15/extension/ssad--0.1.0--0.2.0.sql; do
    check "package holds $f" "yes" "$(grep -qxF "$f" <<<"$files" && echo yes || echo no)"
done
# Libraries ssad.so needs beyond the C runtime: none (Rust's standard library is linked in).
x=$(mktemp -d)
dpkg-deb -x "$deb" "$x"
check "ssad.so needs only libc, libm, libgcc_s" "" \
    "$(ldd "$x/usr/lib/postgresql/15/lib/ssad.so" | awk '{print $1}' | grep -v -E '^(linux-vdso|libc|libm|libgcc_s|/lib64/ld-linux)' || true)"
rm -rf "$x"
# META.json's first two "version" fields: the distribution's and the extension's (the third is the spec's).
check "META.json names Cargo.toml's version" "$version $version" \
    "$(sed -n 's/^ *"version": "\([0-9.]*\)",\{0,1\}$/\1/p' META.json | head -2 | paste -sd' ')"

# A clean PostgreSQL 15: Debian's files copied under a root of their own,
# ssad's left out. PostgreSQL finds its share and lib directories relative
# to its binaries, so the copy is a complete installation.
ROOT=$DIR/root
rm -rf "$DIR" && mkdir -p "$ROOT/usr/lib/postgresql" "$ROOT/usr/share/postgresql" "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates"
cp -a /usr/lib/postgresql/15 "$ROOT/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$ROOT/usr/share/postgresql/"
rm -f "$ROOT"/usr/lib/postgresql/15/lib/ssad.so "$ROOT"/usr/share/postgresql/15/extension/ssad*
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
chmod -R a+rX "$DIR"
export PG_BIN=$ROOT/usr/lib/postgresql/15/bin
check "the copy's share directory is its own" "$ROOT/usr/share/postgresql/15" "$("$PG_BIN/pg_config" --sharedir)"

it_cluster "$DIR/pg" "$PORT" "$DB" 2>/dev/null || true
check "without the package: no ssad" "0" "$(q "SELECT count(*) FROM pg_available_extensions WHERE name = 'ssad'")"
pg_stop "$DIR/pg"

# dpkg into the copy's root; PostgreSQL itself is not in that dpkg database,
# hence --force-depends (on a Debian server apt resolves the dependency).
dpkg --root="$ROOT" --force-depends -i "$deb" >/dev/null 2>&1
check "dpkg lists the package" "ii" "$(dpkg --root="$ROOT" -l postgresql-15-ssad | awk '/postgresql-15-ssad/ {print $1}')"
chmod -R a+rX "$ROOT"

it_cluster "$DIR/pg" "$PORT" "$DB"
check "extension version" "$version" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")"
check "the server is the copy" "$ROOT/usr/lib/postgresql/15/lib" "$(q "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")"
q "CREATE TABLE m AS SELECT i AS id, (i % 30)::float8 AS cpu, (2 * (i % 30) + (i % 7) / 10.0)::float8 AS load, CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END AS kind FROM generate_series(1, 2000) i" >/dev/null
q "INSERT INTO m VALUES (9999, 5, 90, 'a')" >/dev/null
check "training" "1" "$(q "SELECT version FROM ssad_train('pkg_model', 'm', exclude => ARRAY['id'], options => '{\"epochs\": 3}')")"
check "the planted row scores highest" "9999" "$(q "SELECT id FROM m t ORDER BY ssad_score('pkg_model', t) DESC LIMIT 1")"
check "top-k finds it" "9999" "$(q "SELECT row_data->>'id' FROM ssad_top_anomalies('pkg_model', 'm', 1)")"
pg_stop "$DIR/pg"

# The tarball's installer, into a second clean copy found by its pg_config.
T=$DIR/tarroot
mkdir -p "$T/usr/lib/postgresql" "$T/usr/share/postgresql"
cp -a "$ROOT/usr/lib/postgresql/15" "$T/usr/lib/postgresql/"
cp -a "$ROOT/usr/share/postgresql/15" "$T/usr/share/postgresql/"
rm -f "$T"/usr/lib/postgresql/15/lib/ssad.so "$T"/usr/share/postgresql/15/extension/ssad*
tar -xzf "target/package/ssad-$version-pg15-$(dpkg --print-architecture).tar.gz" -C "$DIR"
PG_CONFIG=$T/usr/lib/postgresql/15/bin/pg_config sh "$DIR/ssad-$version/install.sh" >/dev/null
check "the tarball installs ssad.so" "yes" "$([ -f "$T/usr/lib/postgresql/15/lib/ssad.so" ] && echo yes || echo no)"
check "the tarball installs the control file" "yes" "$([ -f "$T/usr/share/postgresql/15/extension/ssad.control" ] && echo yes || echo no)"
finish
