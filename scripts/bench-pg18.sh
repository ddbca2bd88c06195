#!/usr/bin/env bash
# PostgreSQL 18's own incremental backup against pgbk's, on one PG 18 cluster and the same
# change: summarize_wal = on, pg_basebackup --incremental from the full backup's manifest, and
# pg_combinebackup to restore; pgbk backup -b incremental and its chain restore. Bytes stored,
# backup time, restore time; medians of BENCH_RUNS rounds, the tools alternating.
# make bench runs it when scripts/fetch-postgres.sh has fetched PostgreSQL 18.
# Knobs as in bench.sh: BENCH_RUNS (5), BENCH_SCALE (50), BENCH_TEXT_MB (300), BENCH_JOBS (2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
SCALE=${BENCH_SCALE:-50}
TEXT_MB=${BENCH_TEXT_MB:-300}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_PG18_PORT:-54341}
BIN=${PGBK_PG18_BIN:-$("$ROOT/scripts/fetch-postgres.sh" --bin 18)}
[ -x "$BIN/pg_combinebackup" ] || { echo "bench-pg18: no PostgreSQL 18 binaries (run scripts/fetch-postgres.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-pg18: GNU time is needed (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench18.XXXXXX)
BENCH_NAME=bench-pg18
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$BIN"; rm -rf "$W"; }
trap cleanup EXIT

echo "bench-pg18: generating a PostgreSQL 18 cluster (pgbench scale $SCALE + ${TEXT_MB} MB of text) in $W"
new_cluster "$BIN" "summarize_wal = on"
as_pg "$BIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$BIN/psql" -q -v ON_ERROR_STOP=1 -c "CREATE TABLE random_text AS SELECT g AS id, (SELECT string_agg(md5(random()::text || h || g), '') FROM generate_series(1, 19) h) AS body FROM generate_series(1, $((TEXT_MB * 1024 * 1024 / 850))) g" \
  -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)
echo "bench-pg18: cluster is $((BYTES / 1048576)) MB; full backups (not timed)"
as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
as_pg "$BIN/pg_basebackup" -D "$W/native-full" -c fast -X none >/dev/null 2>&1


# One change, then each tool backs it up RUNS times, every time on top of the full backup
# (pgbk's incrementals stay DONE, so its parent stays the OK full; PG 18's use the full's
# manifest): both measure the same change.
echo "bench-pg18: updating 0.1% of pgbench_accounts, then $RUNS incrementals of each tool"
as_pg "$BIN/psql" -q -v ON_ERROR_STOP=1 -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 7"
for i in $(seq 1 "$RUNS"); do
  timed "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental -j "$JOBS" -q; record pgbk-incr
  awk -F= '/^WRITE_BYTES=/ {print $2}' "$W/repo/backup/$(ls "$W/repo/backup" | tail -1)/backup.ini" >> "$W/m-pgbk-bytes"
  rm -rf "$W/native-incr"
  timed "$BIN/pg_basebackup" -D "$W/native-incr" -c fast -X none --incremental="$W/native-full/backup_manifest"; record native-incr
  du -sb "$W/native-incr" | cut -f1 >> "$W/m-native-bytes"
done
LAST=$(ls "$W/repo/backup" | tail -1)

echo "bench-pg18: $RUNS restores of full + last incremental"
for i in $(seq 1 "$RUNS"); do
  rm -rf "$W/out"
  timed "$PGBK" restore -B "$W/repo" -D "$W/out" --backup-id "$LAST" -j "$JOBS" -q; record pgbk-restore
  rm -rf "$W/out"
  timed "$BIN/pg_combinebackup" "$W/native-full" "$W/native-incr" -o "$W/out"; record native-restore
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "bench-pg18: PostgreSQL 18 native incremental vs pgbk, medians of $RUNS on a $((BYTES / 1048576)) MB cluster, $(nproc) CPUs"
printf '%-34s %12s %12s %8s\n' "measurement" "pgbk" "PG 18" "ratio"
printf '%-34s %11.2fs %11.2fs %8s\n' "incremental backup, time" "$(median pgbk-incr)" "$(median native-incr)" "$(ratio "$(median pgbk-incr)" "$(median native-incr)")"
printf '%-34s %12s %12s %8s\n' "incremental backup, bytes stored" "$(median pgbk-bytes)" "$(median native-bytes)" "$(ratio "$(median pgbk-bytes)" "$(median native-bytes)")"
printf '%-34s %11.2fs %11.2fs %8s\n' "restore full + incremental" "$(median pgbk-restore)" "$(median native-restore)" "$(ratio "$(median pgbk-restore)" "$(median native-restore)")"
