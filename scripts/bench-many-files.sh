#!/usr/bin/env bash
# make bench (part): a cluster of many small relations (issue 16, item 3). BENCH_TABLES tables
# (default 25,000), each a heap, a primary key, a free space map and a visibility map: about
# 100,000 relation files. Every pgbk command is run once under GNU time and its wall time and
# peak RSS reported against the 64 MB target; pgBackRest's full backup and restore of the
# same cluster show what the files cost a tool that bundles them. BENCH_EXTRA_FILES=N adds N
# files the server ignores (empty, every tenth one zeroed page) to the postgres database's
# directory: a million-file cluster in a minute, where a million relations take hours.
# BENCH_PGBACKREST=0 leaves pgBackRest out.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TABLES=${BENCH_TABLES:-25000}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_PORT:-54341}
BENCH_NAME="bench many files"
W=$(mktemp -d /tmp/pgbk-bench-files.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$PGBIN"; rm -rf "$W"; }
trap cleanup EXIT

echo "$BENCH_NAME: generating $TABLES tables in $W"
new_cluster "$PGBIN"
make_tables "$PGBIN" "$TABLES"
if [ "${BENCH_EXTRA_FILES:-0}" -gt 0 ]; then
  python3 - "$W/data/base/5" "$BENCH_EXTRA_FILES" <<'PY'
import os, sys
directory, count = sys.argv[1], int(sys.argv[2])
page = bytes(8192)
for i in range(count):
    with open(os.path.join(directory, str(3000000000 + i)), "wb") as f:
        if i % 10 == 0: f.write(page)
PY
  [ "$(id -u)" = 0 ] && chown -R postgres: "$W/data/base/5"
fi
FILES=$(find "$W/data/base" -type f | wc -l)
CLUSTER_BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)
echo "$BENCH_NAME: $FILES files in base/, $((CLUSTER_BYTES / 1048576)) MB"

declare -a ROWS
# measure LABEL COMMAND...: one run, its wall time and peak RSS.
measure() {
  local label=$1; shift
  as_pg /usr/bin/time -f '%e %M' -o "$W/time.out" "$@" >/dev/null 2>"$W/err.out" || { echo "$BENCH_NAME: $label failed:"; cat "$W/err.out"; exit 1; }
  local wall rss; read -r wall rss < "$W/time.out"
  ROWS+=("$(printf '%-38s %8.2f %10d %s' "$label" "$wall" "$rss" "$([ "$rss" -lt 65536 ] && echo '< 64 MB' || echo 'OVER 64 MB')")")
}
fresh() { rm -rf "$W/$1"; mkdir -m 700 "$W/$1"; [ "$(id -u)" = 0 ] && chown postgres: "$W/$1"; sync; sleep 5; }
change() { as_pg "$PGBIN/psql" -q -c "DO \$\$ BEGIN FOR i IN 1..$TABLES BY $((TABLES / 100)) LOOP EXECUTE format('UPDATE t%s SET v = v + 1', i); END LOOP; END \$\$"; }

measure "pgbk backup full -j$JOBS" "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
measure "pgbk validate" "$PGBK" validate -B "$W/repo" -j "$JOBS" -q
change
measure "pgbk backup incremental (100 tables)" "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental -j "$JOBS" -q
measure "pgbk validate" "$PGBK" validate -B "$W/repo" -j "$JOBS" -q
change
measure "pgbk backup incremental --verify-map" "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental --verify-map -j "$JOBS" -q
measure "pgbk validate" "$PGBK" validate -B "$W/repo" -j "$JOBS" -q
FULL_ID=$(ls "$W/repo/backup" | grep 'F$' | head -1)
measure "pgbk validate FULL_ID (again)" "$PGBK" validate -B "$W/repo" "$FULL_ID" -j "$JOBS" -q
measure "pgbk show detail" "$PGBK" show -B "$W/repo" detail
measure "pgbk show --json" "$PGBK" show -B "$W/repo" --json
measure "pgbk show --metrics" "$PGBK" show -B "$W/repo" --metrics
measure "pgbk check --no-archive-test" bash -c "$PGBK check -B $W/repo --no-archive-test >/dev/null; [ \$? -le 1 ]"
fresh out
measure "pgbk restore chain of 3 -j$JOBS" "$PGBK" restore -B "$W/repo" -D "$W/out" -j "$JOBS" -q
measure "pgbk restore --delta -j$JOBS" "$PGBK" restore -B "$W/repo" -D "$W/out" --delta -j "$JOBS" -q
SEG=$(ls "$W"/repo/wal/*/ | grep -E '^[0-9A-F]{24}-' | cut -c1-24 | head -1)
measure "pgbk archive-get" "$PGBK" archive-get -B "$W/repo" "$SEG" "$W/seg"
as_pg "$PGBK" init -B "$W/repo2" -D "$W/data" -q
measure "pgbk copy (chain of 3) -j$JOBS" "$PGBK" copy -B "$W/repo" -B "$W/repo2" --from-repo 1 --to-repo 2 -j "$JOBS" -q
measure "pgbk expire --dry-run" "$PGBK" expire -B "$W/repo" --keep-data-generations 1 --dry-run

if [ "${BENCH_PGBACKREST:-1}" != 0 ] && command -v "${PGBACKREST:-pgbackrest}" >/dev/null; then
  mkdir -p "$W"/{pgbr-repo,log,lock}
  cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr-repo
log-path=$W/log
lock-path=$W/lock
log-level-console=warn
log-level-file=off
start-fast=y
archive-check=n
compress-type=none
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
  [ "$(id -u)" = 0 ] && chown -R postgres: "$W"
  PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"
  as_pg $PGBR stanza-create >/dev/null
  measure "pgBackRest backup full pm$JOBS" $PGBR backup --type=full --process-max="$JOBS"
  fresh pgbr-out
  measure "pgBackRest restore pm$JOBS" $PGBR restore --pg1-path="$W/pgbr-out" --process-max="$JOBS"
fi

echo
echo "$BENCH_NAME: one run each, $FILES relation files, $((CLUSTER_BYTES / 1048576)) MB, $(nproc) CPUs"
printf '%-38s %8s %10s\n' "command" "wall s" "peak kB"
printf '%s\n' "${ROWS[@]}"
