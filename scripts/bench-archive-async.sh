#!/usr/bin/env bash
# make bench, WAL keep-up (issue 28): how many WAL segments per second asynchronous archiving
# stores into S3 (the local Ceph gateway, through a proxy adding BENCH_S3_RTT_MS, default 10,
# per request), pgbk archive-push --async -j N against pgBackRest's archive-async with
# process-max N. A backlog of BENCH_ASYNC_SEGMENTS (default 48) full segments of WAL (rows of hex text, about 2:1 for zstd)
# waits in pg_wal (archive_command empty); archive_command is then set and the server
# reloaded, and the time until pg_stat_archiver reports the last one archived is the drain
# time. Segments per second is the highest WAL rate each keeps up with. Medians of BENCH_RUNS.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
RTT=${BENCH_S3_RTT_MS:-10}
PORT=${BENCH_ASYNC_PORT:-54371}
SEGMENTS=${BENCH_ASYNC_SEGMENTS:-48}
N=${BENCH_ASYNC_JOBS:-4}
BENCH_NAME=bench-archive-async
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE S3_URI_STYLE S3_PART_SIZE S3_RETRIES S3_TIMEOUT PGBK_CONFIG
command -v "${PGBACKREST:-pgbackrest}" >/dev/null || { echo "$BENCH_NAME: pgbackrest is not installed" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench-async.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
mkdir -p "$W"/{log,lock,spool,ceph}
cleanup() {
  stop_cluster "$PGBIN"
  [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null || true
  "$ROOT/scripts/ceph-rgw.sh" stop "$W/ceph" || true
  rm -rf "$W"
}
trap cleanup EXIT

start_s3_gateway
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_ENDPOINT_URL=https://127.0.0.1:%s\nAWS_CA_BUNDLE=%s\nARCHIVE_PUSH_JOBS=%s\n' \
  "$ACCESS_KEY" "$SECRET_KEY" "$PROXY_PORT" "$CA_BUNDLE" "$N" > "$W/s3.conf"
chmod 600 "$W/s3.conf"
cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-type=s3
repo1-path=/repo
repo1-s3-bucket=pgbr
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$PROXY_PORT
repo1-storage-verify-tls=n
repo1-s3-key=$ACCESS_KEY
repo1-s3-key-secret=$SECRET_KEY
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
log-path=$W/log
lock-path=$W/lock
spool-path=$W/spool
log-level-console=warn
log-level-file=off
compress-type=zst
compress-level=3
archive-async=y
process-max=$N
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"
PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"
S3=s3://pgbk/repo
PUSH_PGBK="$PGBK archive-push --config $W/s3.conf -B $S3 --async --compress zstd --compress-level 3 %p"
PUSH_PGBR="$PGBR archive-push %p"

ARCHIVE_COMMAND="" new_cluster "$PGBIN" "archive_timeout = 0"
as_pg $PGBK init --config "$W/s3.conf" -B "$S3" -D "$W/data" -q
as_pg $PGBR stanza-create >/dev/null
as_pg "$PGBIN/psql" -q -c "CREATE TABLE w (t text)"

set_command() {  # set_command COMMAND: archive_command, then a reload (which wakes the archiver)
  as_pg "$PGBIN/psql" -qAt -c "ALTER SYSTEM SET archive_command = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
backlog() {  # $SEGMENTS full segments of WAL (rows of hex text, about 2:1 for zstd) left ready in pg_wal
  set_command ""
  local start end
  start=$(as_pg "$PGBIN/psql" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
  while :; do
    as_pg "$PGBIN/psql" -q -c "INSERT INTO w SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 200000) g"
    end=$(as_pg "$PGBIN/psql" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
    # The segment number: the middle 8 hex digits times 256 plus the last 8 (16 MiB segments).
    [ $(( (16#${end:8:8} * 256 + 16#${end:16:8}) - (16#${start:8:8} * 256 + 16#${start:16:8}) )) -ge "$SEGMENTS" ] && break
  done
  as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
  LAST=$end
}
cpu_of() {  # cpu_of PATTERN: CPU seconds (user + system) of the processes whose command line matches
  local total=0 pid
  for pid in $(pgrep -f -- "$1" || true); do
    total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
drain() {  # drain LABEL COMMAND: seconds until the backlog is archived, and the CPU seconds the
  # gateway, the proxy and the archiving processes spent meanwhile (a drain on 2 CPUs is CPU-bound)
  local t0 t1 gw0 px0
  backlog
  gw0=$(cpu_of radosgw); px0=$(cpu_of latency-proxy)
  t0=$(date +%s.%N)
  set_command "$2"
  until [ "$(as_pg "$PGBIN/psql" -qAt -c "SELECT coalesce(last_archived_wal, '') >= '$LAST' FROM pg_stat_archiver")" = t ]; do
    sleep 0.05
    [ "$(as_pg "$PGBIN/psql" -qAt -c "SELECT failed_count FROM pg_stat_archiver")" = 0 ] && continue
    echo "$BENCH_NAME: $1: archive_command failed; the server log says:"; tail -5 "$W/server.log"; exit 1
  done
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$W/m-$1"
  awk -v hz="$(getconf CLK_TCK)" -v g=$(( $(cpu_of radosgw) - gw0 )) -v p=$(( $(cpu_of latency-proxy) - px0 )) \
      -v a=$(( $(cpu_of '--pusher') + $(cpu_of 'archive-push:async') )) -v l="$BENCH_NAME: $1" \
      'BEGIN { printf "%s: CPU seconds: gateway %.1f, proxy %.1f, background archiver %.1f\n", l, g / hz, p / hz, a / hz }'
  # The next drain's background archiver starts from nothing.
  pkill -f -- '--pusher' || true; pkill -f 'archive-push:async' || true
}
echo "$BENCH_NAME: $SEGMENTS segments, $N at a time, +${RTT} ms per request"
for _ in $(seq 1 "$RUNS"); do
  drain "pgbk async -j$N" "$PUSH_PGBK"
  drain "pgBackRest async process-max=$N" "$PUSH_PGBR"
done
for label in "pgbk async -j$N" "pgBackRest async process-max=$N"; do
  printf '%s: %-36s %7.2f s  %6.1f segments/s\n' "$BENCH_NAME" "$label" "$(median "$label")" \
    "$(awk -v s="$SEGMENTS" -v t="$(median "$label")" 'BEGIN { printf "%.1f", s / t }')"
done
printf '%s: pgbk keeps up with %sx pgBackRest %s'"'"'s WAL rate\n' "$BENCH_NAME" \
  "$(median_ratio "pgBackRest async process-max=$N" "pgbk async -j$N")" "$PGBR_VERSION"
