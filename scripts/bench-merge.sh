#!/usr/bin/env bash
# make bench (part): pgbk merge of a full and 6 incrementals against a fresh full backup of
# the same cluster (issue 29: target at most 1.0x, without touching the cluster). The cluster
# is bench.sh's (pgbench scale BENCH_SCALE + BENCH_TEXT_MB of random text, about 1 GB); each
# incremental follows BENCH_MERGE_TX pgbench transactions (default 4000) and is validated,
# as the user guide's cron line does. Each round restores the repository as it was before the
# merge (untimed), then times the merge, then a fresh full with the same compression; both
# read what they read from the page cache, as the last backup left it. Medians of BENCH_RUNS (3).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${BENCH_SCALE:-50}
TEXT_MB=${BENCH_TEXT_MB:-300}
TX=${BENCH_MERGE_TX:-4000}
RUNS=${BENCH_RUNS:-3}
JOBS=${BENCH_JOBS:-2}
COMPRESS=${BENCH_MERGE_COMPRESS:-zstd}
PORT=${BENCH_PORT:-54353}
BENCH_NAME="bench merge"
W=$(mktemp -d /tmp/pgbk-bench-merge.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$PGBIN"; [ -n "${BENCH_MERGE_KEEP:-}" ] && echo "$BENCH_NAME: kept $W" || rm -rf "$W"; }
trap cleanup EXIT

echo "$BENCH_NAME: generating the cluster (pgbench scale $SCALE + ${TEXT_MB} MB of random text) in $W"
INIT_ARGS="--compress $COMPRESS" new_cluster "$PGBIN" "max_wal_size = 4GB"
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$PGBIN/psql" -q -v ON_ERROR_STOP=1 -c "CREATE TABLE random_text AS SELECT g AS id, (SELECT string_agg(md5(random()::text || h || g), '') FROM generate_series(1, 19) h) AS body FROM generate_series(1, $((TEXT_MB * 1024 * 1024 / 850))) g" \
  -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
as_pg "$PGBK" validate -B "$W/repo" -j "$JOBS" -q
for i in 1 2 3 4 5 6; do
  as_pg "$PGBIN/pgbench" -n -c 2 -t $((TX / 2)) >/dev/null 2>&1
  as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental -j "$JOBS" -q
  as_pg "$PGBK" validate -B "$W/repo" -j "$JOBS" -q
done
TIP=$(ls "$W/repo/backup" | grep 'I$' | tail -1)
CLUSTER=$(awk -F= '/^TOTAL_DATA_BYTES=/ {print $2}' "$W/repo/backup/$TIP/backup.ini")
CHAIN=$(du -sb "$W/repo/backup" | cut -f1)
as_pg cp -a "$W/repo" "$W/repo.before"
# The repository as it was before the merge, under a new name: the old one is moved aside and
# removed only after a pause (ext4 skips inodes freed in the last seconds when it allocates, so
# files made right after a removal cost several times more: bench.sh's fresh and settle).
reset_repo() {
  mkdir -p "$W/trash"; [ -d "$W/repo" ] && mv "$W/repo" "$W/trash/repo.$RANDOM"
  as_pg cp -a "$W/repo.before" "$W/repo"; rm -rf "$W/trash"; sync; sleep 6
}

for run in $(seq 1 "$RUNS"); do
  reset_repo
  timed "$PGBK" merge -B "$W/repo" -j "$JOBS" "$TIP"
  record merge
  MERGED_BYTES=$(awk -F= '/^WRITE_BYTES=/ {print $2}' "$W/repo/backup/${TIP%I}F/backup.ini")
  reset_repo
  timed "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
  record full
  FULL_BYTES=$(awk -F= '/^WRITE_BYTES=/ {print $2}' "$W/repo/backup/$(ls "$W/repo/backup" | tail -1)/backup.ini")
done

echo
echo "$BENCH_NAME: a full and 6 incrementals ($((CHAIN / 1048576)) MB stored, $COMPRESS) of a $((CLUSTER / 1048576)) MB cluster, -j $JOBS, medians of $RUNS, $(nproc) CPUs"
printf '%-34s %8.2f s  %6d MB stored\n' "pgbk merge (read back whole)" "$(median merge)" $((MERGED_BYTES / 1048576))
printf '%-34s %8.2f s  %6d MB stored\n' "pgbk backup (a fresh full)" "$(median full)" $((FULL_BYTES / 1048576))
echo "  merge / fresh full: $(median_ratio merge full) (target at most 1.0)"
