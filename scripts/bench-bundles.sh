#!/usr/bin/env bash
# make bench (part, issue 28): what a cluster of many small files costs in S3 requests. The
# cluster of bench-many-files.sh (BENCH_TABLES tables, default 25,000: about 100,000 relation
# files) backed up to the local Ceph gateway by pgbk without and with BUNDLE=on and by
# pgBackRest (Debian's) with repo1-bundle=y; requests are counted by the gateway itself (its
# perf counters, read through the admin socket) around each command, with wall time and
# peak RSS. Then an incremental after 100 tables changed, a restore and a validate.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TABLES=${BENCH_TABLES:-25000}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_PORT:-54361}
RTT=0
BENCH_NAME="bench bundles"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE S3_URI_STYLE S3_PART_SIZE S3_RETRIES S3_TIMEOUT PGBK_CONFIG BUNDLE BUNDLE_LIMIT BUNDLE_SIZE
command -v "${PGBACKREST:-pgbackrest}" >/dev/null || { echo "$BENCH_NAME: pgbackrest is not installed" >&2; exit 1; }
W=$(mktemp -d /tmp/pgbk-bench-bundles.XXXXXX)
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
ASOK="$W/ceph/run/client.rgw.pgbk.asok"
# requests: the gateway's count of requests so far (GET, PUT, HEAD, LIST, DELETE, POST).
requests() { ceph --admin-daemon "$ASOK" perf dump 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["rgw"]["req"])'; }
requests >/dev/null || { echo "$BENCH_NAME: cannot read the gateway's request counter through $ASOK" >&2; exit 1; }

printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_ENDPOINT_URL=%s\nAWS_CA_BUNDLE=%s\n' \
  "$ACCESS_KEY" "$SECRET_KEY" "$TLS_ENDPOINT" "$CA_BUNDLE" > "$W/s3.conf"
chmod 600 "$W/s3.conf"
[ "$(id -u)" = 0 ] && chown postgres: "$W/s3.conf"
cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-type=s3
repo1-path=/repo
repo1-s3-bucket=pgbr
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$TLS_PORT
repo1-storage-verify-tls=n
repo1-s3-key=$ACCESS_KEY
repo1-s3-key-secret=$SECRET_KEY
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-retention-full=9999
$(pgbr_strongest)
log-path=$W/log
lock-path=$W/lock
spool-path=$W/spool
log-level-console=warn
log-level-file=off
start-fast=y
archive-check=n
compress-type=zst
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"
[ "$(id -u)" = 0 ] && chown -R postgres: "$W/log" "$W/lock" "$W/spool" "$W/pgbackrest.conf"

echo "$BENCH_NAME: generating $TABLES tables in $W"
# WAL goes to all three repositories (the backups wait for theirs); the archiving of the few
# segments a backup switches falls in its count, for every tool alike.
ARCHIVE_COMMAND="$PGBK archive-push --config $W/s3.conf -B s3://pgbk/off -B s3://pgbk/on %p && $PGBR archive-push %p" new_cluster "$PGBIN"
for mode in off on; do as_pg "$PGBK" init --config "$W/s3.conf" -B "s3://pgbk/$mode" -D "$W/data" -q --compress zstd; done
as_pg $PGBR stanza-create >/dev/null
make_tables "$PGBIN" "$TABLES"
FILES=$(find "$W/data/base" -type f | wc -l)
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"

declare -a ROWS
# measure LABEL COMMAND...: one run; requests at the gateway, wall time, peak RSS.
measure() {
  local label=$1; shift
  local before after; before=$(requests)
  as_pg /usr/bin/time -f '%e %M' -o "$W/time.out" "$@" >/dev/null 2>"$W/err.out" || { echo "$BENCH_NAME: $label failed:"; cat "$W/err.out"; exit 1; }
  after=$(requests)
  local wall rss; read -r wall rss < "$W/time.out"
  ROWS+=("$(printf '%-44s %9d %8.2f %10d' "$label" $((after - before)) "$wall" "$rss")")
}
change() { as_pg "$PGBIN/psql" -q -c "DO \$\$ BEGIN FOR i IN 1..$TABLES BY $((TABLES / 100)) LOOP EXECUTE format('UPDATE t%s SET v = v + 1', i); END LOOP; END \$\$"; }
fresh() { rm -rf "$W/$1"; mkdir -m 700 "$W/$1"; [ "$(id -u)" = 0 ] && chown postgres: "$W/$1"; true; }

for mode in off on; do
  measure "pgbk full -j$JOBS BUNDLE=$mode" env BUNDLE=$mode "$PGBK" backup --config "$W/s3.conf" -B "s3://pgbk/$mode" -D "$W/data" -j "$JOBS" -q
done
measure "pgBackRest $PGBR_VERSION full pm$JOBS repo1-bundle=y" $PGBR backup --type=full --process-max="$JOBS"
measure "pgbk validate full BUNDLE=on" "$PGBK" validate --config "$W/s3.conf" -B "s3://pgbk/on" -j "$JOBS" -q
change
measure "pgbk incremental (100 tables) BUNDLE=on" env BUNDLE=on "$PGBK" backup --config "$W/s3.conf" -B "s3://pgbk/on" -D "$W/data" -b incremental -j "$JOBS" -q
measure "pgBackRest $PGBR_VERSION incr (100 tables) bundle" $PGBR backup --type=incr --process-max="$JOBS"
measure "pgbk validate incremental BUNDLE=on" "$PGBK" validate --config "$W/s3.conf" -B "s3://pgbk/on" -j "$JOBS" -q
fresh out
measure "pgbk restore chain -j$JOBS BUNDLE=on" "$PGBK" restore --config "$W/s3.conf" -B "s3://pgbk/on" -D "$W/out" -j "$JOBS" -q
fresh pgbr-out
measure "pgBackRest $PGBR_VERSION restore pm$JOBS bundle" $PGBR restore --pg1-path="$W/pgbr-out" --process-max="$JOBS"

echo
echo "$BENCH_NAME: one run each, $FILES relation files, zstd, $(nproc) CPUs; requests counted by the gateway"
printf '%-44s %9s %8s %10s\n' "command" "requests" "wall s" "peak kB"
printf '%s\n' "${ROWS[@]}"
