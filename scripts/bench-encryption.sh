#!/usr/bin/env bash
# make bench, encryption part (issue 27), on one generated cluster (pgbench scale
# BENCH_ENC_SCALE, default 70: about 1 GB) archiving into an encrypted pgbk repository:
# - full backup zstd and its restore, encrypted against plain (target: at most 1.1x each);
# - against pgBackRest's full backup zst with repo1-cipher-type=aes-256-cbc (target: at most
#   0.6x its time);
# - rekey of the encrypted repository once it also holds a backup of BENCH_ENC_TABLES more
#   tables (default 25,000: about 100,000 relation files) and BENCH_ENC_SEGMENTS archived WAL
#   segments (default 1,000; 1 MB segments, so that making them takes minutes, not hours):
#   target under 5 s.
# Medians of BENCH_RUNS (default 3) runs; BENCH_JOBS (default 2).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_ENC_SCALE:-70}
TABLES=${BENCH_ENC_TABLES:-25000}
SEGMENTS=${BENCH_ENC_SEGMENTS:-1000}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_ENC_PORT:-54371}
BENCH_NAME=bench-encryption
command -v "${PGBACKREST:-pgbackrest}" >/dev/null || { echo "$BENCH_NAME: pgbackrest is not installed (apt-get install pgbackrest)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "$BENCH_NAME: GNU time is needed (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench-enc.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
cleanup() { stop_cluster "$PGBIN"; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W"/{log,lock,spool}
openssl rand -base64 48 > "$W/passphrase"
openssl rand -base64 48 > "$W/passphrase.new"
echo "CIPHER_PASS_FILE=$W/passphrase" > "$W/enc.conf"
chmod 600 "$W/passphrase" "$W/passphrase.new" "$W/enc.conf"
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"
ENC="--config $W/enc.conf -B $W/repo"
cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr-repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$(openssl rand -base64 48)
log-path=$W/log
lock-path=$W/lock
log-level-console=warn
log-level-file=off
start-fast=y
archive-check=n
repo1-retention-full=9999
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
chmod 600 "$W/pgbackrest.conf"; [ "$(id -u)" = 0 ] && chown -R postgres: "$W"
PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"

echo "$BENCH_NAME: generating the cluster (pgbench scale $SCALE, 1 MB WAL segments) in $W"
INITDB_ARGS="--wal-segsize=1" INIT_ARGS="--config $W/enc.conf --encrypt" \
  ARCHIVE_COMMAND="$PGBK archive-push $ENC %p && $PGBK archive-push -B $W/plain %p" new_cluster "$PGBIN"
as_pg "$PGBK" init -B "$W/plain" -D "$W/data" -q
as_pg $PGBR stanza-create >/dev/null
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$PGBIN/psql" -q -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
CLUSTER_BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)
# Archiving into the plain repository failed until it was made: let PostgreSQL catch up first.
wait_archived() {
  local last; last=$(as_pg "$PGBIN/psql" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
  as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
  until [ "$(as_pg "$PGBIN/psql" -qAt -c "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver")" = t ]; do sleep 1; done
}
wait_archived

fresh() { rm -rf "$W/out"; mkdir -m 700 "$W/out"; [ "$(id -u)" = 0 ] && chown postgres: "$W/out"; sync; sleep 3; }
for _ in $(seq 1 "$RUNS"); do
  timed $PGBK backup -B "$W/plain" -D "$W/data" -j "$JOBS" -q --compress zstd; record "full zstd plain"
  timed $PGBK backup $ENC -D "$W/data" -j "$JOBS" -q --compress zstd; record "full zstd encrypted"
  timed $PGBR backup --type=full --compress-type=zst --process-max="$JOBS"; record "pgBackRest full zst aes-256-cbc"
done
as_pg $PGBK validate -B "$W/plain" -q -j "$JOBS"
as_pg $PGBK validate $ENC -q -j "$JOBS"
for _ in $(seq 1 "$RUNS"); do
  fresh; timed $PGBK restore -B "$W/plain" -D "$W/out" -j "$JOBS" -q; record "restore full plain"
  fresh; timed $PGBK restore $ENC -D "$W/out" -j "$JOBS" -q; record "restore full encrypted"
  fresh; timed $PGBR restore --pg1-path="$W/out" --process-max="$JOBS"; record "pgBackRest restore aes-256-cbc"
done
rm -rf "$W/out"

echo "$BENCH_NAME: $TABLES more tables, a backup of them, $SEGMENTS WAL segments"
make_tables "$PGBIN" "$TABLES"
as_pg $PGBK backup $ENC -D "$W/data" -j "$JOBS" -q --compress zstd
for i in $(seq 1 "$SEGMENTS"); do echo "INSERT INTO t1 VALUES ($((i + 1)), $i); SELECT pg_switch_wal();"; done \
  | as_pg "$PGBIN/psql" -q >/dev/null
wait_archived
REPO_FILES=$(find "$W/repo" -type f | wc -l)
WAL_FILES=$(find "$W/repo/wal" -type f | wc -l)
KEY_FILES=$(find "$W/repo/keys" -type f | wc -l)
for _ in $(seq 1 "$RUNS"); do
  timed $PGBK rekey $ENC --new-pass-file "$W/passphrase.new"; record "rekey"
  cp "$W/passphrase.new" "$W/passphrase.old"; cp "$W/passphrase" "$W/passphrase.new"; cp "$W/passphrase.old" "$W/passphrase"
done
as_pg $PGBK validate $ENC -q -j "$JOBS"

echo
echo "$BENCH_NAME: medians of $RUNS runs, $((CLUSTER_BYTES / 1048576)) MB cluster, $(nproc) CPUs"
medians 36
echo
echo "ratios (wall time):"
echo "  full zstd encrypted / plain:            $(median_ratio "full zstd encrypted" "full zstd plain") (target at most 1.1)"
echo "  restore encrypted / plain:              $(median_ratio "restore full encrypted" "restore full plain") (target at most 1.1)"
echo "  full zstd encrypted / pgBackRest cbc:   $(median_ratio "full zstd encrypted" "pgBackRest full zst aes-256-cbc") (target at most 0.6)"
echo "  restore encrypted / pgBackRest cbc:     $(median_ratio "restore full encrypted" "pgBackRest restore aes-256-cbc")"
echo "  rekey: $(median rekey) s on $REPO_FILES files ($WAL_FILES archived WAL files, $KEY_FILES key files) (target under 5 s)"
