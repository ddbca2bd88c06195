#!/usr/bin/env bash
# make bench, backup server part (issue 26): a full backup over the replication protocol
# (pgbk backup --method protocol: BASE_BACKUP, every page verified, CRC-32C, catalogued)
# against pg_basebackup -Ft -X none of the same PostgreSQL 18 cluster (the tar archives
# written, nothing checked), then an incremental after a 0.1% update against
# pg_basebackup --incremental (summarize_wal = on). Wall time, and for the incrementals the
# bytes the server sent (pgbk's NETWORK_BYTES; pg_basebackup's output size). WAL reaches
# pgbk's repository through archive_command; both tools leave WAL out of the backup.
# Medians of BENCH_RUNS (default 3), the tools alternating.
# Knobs: BENCH_RUNS, BENCH_SCALE (pgbench scale, default 50).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_SCALE:-50}
PORT=${BENCH_PROTOCOL_PORT:-54351}
BIN=${PGBK_PG18_BIN:-$("$ROOT/scripts/fetch-postgres.sh" --bin 18)}
[ -x "$BIN/pg_basebackup" ] || { echo "bench-protocol: no PostgreSQL 18 binaries (run scripts/fetch-postgres.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-protocol: GNU time is needed (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench-protocol.XXXXXX)
BENCH_NAME=bench-protocol
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$BIN"; rm -rf "$W"; }
trap cleanup EXIT

echo "bench-protocol: a PostgreSQL 18 cluster (pgbench scale $SCALE) in $W"
new_cluster "$BIN" "summarize_wal = on
max_wal_senders = 10"
as_pg "$BIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$BIN/psql" -q -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)
echo "bench-protocol: cluster is $((BYTES / 1048576)) MB; $RUNS full backups of each tool"

# Each pgbk run into a fresh repository (made from the connection, as a backup host does);
# each pg_basebackup into a fresh directory.
for run in $(seq 1 "$RUNS"); do
  rm -rf "$W/repo-p" "$W/tar"
  as_pg "$PGBK" init -B "$W/repo-p" -q
  # The repository's WAL: the server's archive_command writes into $W/repo; the backup waits
  # for its last segment in its own repository, so that one archives there too.
  as_pg "$BIN/psql" -qAt -c "ALTER SYSTEM SET archive_command = '$PGBK archive-push -B $W/repo-p %p'" -c "SELECT pg_reload_conf()" >/dev/null
  timed "$PGBK" backup -B "$W/repo-p" --method protocol -q; record "full pgbk --method protocol"
  timed "$BIN/pg_basebackup" -D "$W/tar" -Ft -X none -c fast; record "full pg_basebackup -Ft"
done
as_pg "$PGBK" validate -B "$W/repo-p" -q
rm -rf "$W/tar"; as_pg "$BIN/pg_basebackup" -D "$W/native-full" -c fast -X none >/dev/null 2>&1

echo "bench-protocol: updating 0.1% of pgbench_accounts, then $RUNS incrementals of each tool"
as_pg "$BIN/psql" -q -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 0" -c "CHECKPOINT"
for run in $(seq 1 "$RUNS"); do
  rm -rf "$W/native-incr"
  timed "$PGBK" backup -B "$W/repo-p" -b incremental -q; record "incremental pgbk --method protocol"
  timed "$BIN/pg_basebackup" -D "$W/native-incr" -c fast -X none --incremental "$W/native-full/backup_manifest"
  record "incremental pg_basebackup --incremental"
done
NET=$(grep -h '^NETWORK_BYTES' "$W"/repo-p/backup/*I/backup.ini | tail -1 | cut -d= -f2 | tr -d ' ')
NATIVE=$(du -sb "$W/native-incr" | cut -f1)

echo
echo "bench-protocol: medians of $RUNS runs, cluster $((BYTES / 1048576)) MB"
medians 42
echo "full: pgbk / pg_basebackup -Ft = $(median_ratio "full pgbk --method protocol" "full pg_basebackup -Ft")"
echo "incremental: pgbk / pg_basebackup --incremental = $(median_ratio "incremental pgbk --method protocol" "incremental pg_basebackup --incremental")"
echo "incremental bytes sent: pgbk $((NET / 1048576)) MB, pg_basebackup --incremental $((NATIVE / 1048576)) MB"
