#!/usr/bin/env bash
# make bench (part): does an incremental's time follow the change or the cluster? (issue 16)
# The same change (BENCH_SCALE_ROWS rows of pgbench_accounts, default 5,000, scattered over
# the whole table) on a pgbench cluster of scale BENCH_SCALE_SMALL (default 50) and on one
# four times larger; each incremental timed BENCH_RUNS times (default 3), median reported,
# with the bytes it read of the cluster and where it learned what changed.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMALL=${BENCH_SCALE_SMALL:-50}
ROWS=${BENCH_SCALE_ROWS:-5000}
RUNS=${BENCH_RUNS:-3}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_PORT:-54351}
BENCH_NAME="bench scale"
W=$(mktemp -d /tmp/pgbk-bench-scale.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$PGBIN"; rm -rf "$W"; }
trap cleanup EXIT

declare -A TIME READ TOTAL SOURCE
for scale in "$SMALL" $((SMALL * 4)); do
  [ -f "$W/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null
  rm -rf "$W/data" "$W/repo" "$W"/m-*
  echo "$BENCH_NAME: pgbench scale $scale"
  new_cluster "$PGBIN" "max_wal_size = 4GB"
  as_pg "$PGBIN/pgbench" -i -q -s "$scale" >/dev/null 2>&1
  as_pg "$PGBIN/psql" -q -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
  as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
  as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
  step=$((scale * 100000 / ROWS))
  for run in $(seq 1 "$RUNS"); do
    as_pg "$PGBIN/psql" -q -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % $step = $run"
    timed "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental -j "$JOBS" -q
    record "$scale"
    as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
  done
  ini="$W/repo/backup/$(ls "$W/repo/backup" | tail -1)/backup.ini"
  TIME[$scale]=$(median "$scale")
  READ[$scale]=$(awk -F= '/^SCANNED_DATA_BYTES=/ {print $2}' "$ini")
  TOTAL[$scale]=$(awk -F= '/^TOTAL_DATA_BYTES=/ {print $2}' "$ini")
  SOURCE[$scale]=$(awk -F= '/^CHANGE_SOURCE=/ {print $2}' "$ini")
done

echo
echo "$BENCH_NAME: incremental after updating $ROWS scattered rows, medians of $RUNS, $(nproc) CPUs"
printf '%-8s %12s %10s %14s %8s\n' "scale" "cluster MB" "wall s" "read MB" "changes"
for scale in "$SMALL" $((SMALL * 4)); do
  printf '%-8s %12d %10.2f %14.1f %8s\n' "$scale" $((TOTAL[$scale] / 1048576)) "${TIME[$scale]}" \
    "$(awk -v b="${READ[$scale]}" 'BEGIN { printf "%.1f", b / 1048576 }')" "${SOURCE[$scale]}"
done
echo "  4x cluster / 1x cluster, incremental time: $(awk -v a="${TIME[$((SMALL * 4))]}" -v b="${TIME[$SMALL]}" 'BEGIN { printf "%.2f", a / b }') (target 1.5)"
