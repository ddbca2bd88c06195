#!/usr/bin/env bash
# make bench, S3 part: pgbk with its repository on a local Ceph RADOS Gateway (https, the
# same gateway as make test's), against the same pgbk on a local directory and pgBackRest
# with repo1-type=s3 and repo1-bundle=y on the same gateway (pgbk bundles on S3 by
# default). Medians of BENCH_RUNS (default 3) runs of: full backup (zstd, -j),
# incremental, restore, archive-push one process per segment, and the
# recovery of 50 segments through archive-get with and without prefetch, on loopback and
# through a proxy adding BENCH_S3_RTT_MS (default 10) per request, as a store that is not
# on the same host would.
# Knobs: BENCH_S3_SCALE (pgbench scale, default 20), BENCH_JOBS (default 2).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_S3_SCALE:-20}
JOBS=${BENCH_JOBS:-2}
RTT=${BENCH_S3_RTT_MS:-10}
PORT=${BENCH_S3_PORT:-54351}
BENCH_NAME=bench-s3
# The environment overrides pgbk's configuration file: settings this shell may carry (a CA
# bundle, other credentials) would replace the gateway's.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE S3_URI_STYLE S3_PART_SIZE S3_RETRIES S3_TIMEOUT ARCHIVE_GET_QUEUE_MAX PGBK_CONFIG
command -v "${PGBACKREST:-pgbackrest}" >/dev/null || { echo "bench-s3: pgbackrest is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-s3: GNU time is needed (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench-s3.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
mkdir -p "$W"/{log,lock,spool,ceph}
cleanup() {
  for d in "$W/data" "$W/out"; do [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
  [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null || true
  "$ROOT/scripts/ceph-rgw.sh" stop "$W/ceph" || true
  rm -rf "$W"
}
trap cleanup EXIT

start_s3_gateway

conf() {  # conf FILE ENDPOINT
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_ENDPOINT_URL=%s\nAWS_CA_BUNDLE=%s\n' \
    "$ACCESS_KEY" "$SECRET_KEY" "$2" "$CA_BUNDLE" > "$1"
  chmod 600 "$1"; [ "$(id -u)" = 0 ] && chown postgres: "$1"; true
}
conf "$W/s3.conf" "$TLS_ENDPOINT"
conf "$W/s3-far.conf" "https://127.0.0.1:$PROXY_PORT"
S3="s3://pgbk/repo"
CFG="--config $W/s3.conf"
cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-type=s3
repo1-path=/repo
repo1-s3-bucket=pgbr
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$TLS_PORT
# pgBackRest 2.45 matches only DNS names, not the IP address in the certificate: it still
# speaks TLS, without verifying the (self-signed, loopback) certificate.
repo1-storage-verify-tls=n
repo1-s3-key=$ACCESS_KEY
repo1-s3-key-secret=$SECRET_KEY
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-retention-full=9999
log-path=$W/log
lock-path=$W/lock
spool-path=$W/spool
log-level-console=warn
log-level-file=off
start-fast=y
compress-type=zst
# Each tool at its best on object storage: pgBackRest bundles when asked, pgbk by default.
$(pgbr_strongest)
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"
PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"
echo "${BENCH_NAME:-bench}: comparing with pgBackRest $PGBR_VERSION ($PGBACKREST_BIN), $(pgbr_strongest | tr "\n" " ")"

echo "bench-s3: generating the cluster (pgbench scale $SCALE)"
as_pg "$PGBIN/initdb" -D "$W/data" -U postgres -A trust -k --no-sync >/dev/null
cat >> "$W/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$W/sock'
archive_mode = on
archive_command = '$PGBK archive-push $CFG -B $S3 %p && $PGBK archive-push -B $W/repo %p && $PGBR archive-push %p'
max_wal_size = 2GB
shared_buffers = 256MB
CONF
# WAL compressed as pgBackRest's (compress-type=zst): restore reads back the WAL it proves.
as_pg $PGBK init $CFG -B "$S3" -D "$W/data" -q --compress zstd
as_pg "$PGBK" init -B "$W/repo" -D "$W/data" -q --compress zstd
as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null
as_pg $PGBR stanza-create >/dev/null
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$PGBIN/psql" -q -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
CLUSTER_BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)
echo "bench-s3: cluster is $((CLUSTER_BYTES / 1048576)) MB"

# Each measurement: RUNS rounds over the three tools in turn; medians.
# A new empty target per run, as bench.sh makes one: the older targets are deleted and the
# disk synced first (a restore that syncs must not wait for the previous tool's writeback),
# the last one moved aside (ext4 is slow to create files where it has just freed them).
fresh() {
  rm -rf "$W/trash"; sync; sleep 2
  mkdir -p "$W/trash"; [ -d "$W/out" ] && mv "$W/out" "$W/trash/out.$RANDOM$RANDOM"
  mkdir -p "$W/out"; chmod 700 "$W/out"; [ "$(id -u)" = 0 ] && chown postgres: "$W/out"; true
}
measure() {  # measure LABEL PREP COMMAND...: PREP (shell code) runs untimed before each run
  local label=$1 prep=$2; shift 2
  [ -n "$prep" ] && eval "$prep"
  timed "$@"; record "$label"
}
three() {  # three WHAT PREP PGBK_S3_CMD PGBK_LOCAL_CMD PGBR_CMD (each a string)
  local what=$1 prep=$2
  for _ in $(seq 1 "$RUNS"); do
    measure "$what pgbk-s3" "$prep" bash -c "$3"
    measure "$what pgbk-local" "$prep" bash -c "$4"
    measure "$what pgBackRest-s3" "$prep" bash -c "$5"
  done
  for t in pgbk-s3 pgbk-local pgBackRest-s3; do printf 'bench-s3: %-42s %7.2f s\n' "$what $t" "$(median "$what $t")"; done
}

three "full zstd -j$JOBS" "" \
  "$PGBK backup $CFG -B $S3 -D $W/data -j $JOBS -q --compress zstd --compress-level 3" \
  "$PGBK backup -B $W/repo -D $W/data -j $JOBS -q --compress zstd --compress-level 3" \
  "$PGBR backup --type=full --compress-type=zst --process-max=$JOBS"
as_pg $PGBK validate $CFG -B "$S3" -q -j "$JOBS"; as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
three "incremental (0.1% of accounts)" "as_pg $PGBIN/psql -q -c 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 7'" \
  "$PGBK backup $CFG -B $S3 -D $W/data -b incremental -j $JOBS -q --compress zstd --compress-level 3" \
  "$PGBK backup -B $W/repo -D $W/data -b incremental -j $JOBS -q --compress zstd --compress-level 3" \
  "$PGBR backup --type=incr --compress-type=zst --process-max=$JOBS"
as_pg $PGBK validate $CFG -B "$S3" -q -j "$JOBS"; as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
FULL_S3=$(as_pg $PGBK show $CFG -B "$S3" --json | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin) if b["mode"]=="FULL" and b["status"]=="OK"][-1])')
FULL_LOCAL=$(as_pg "$PGBK" show -B "$W/repo" --json | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin) if b["mode"]=="FULL" and b["status"]=="OK"][-1])')
PGBR_FULL=$(as_pg $PGBR info --output=json | python3 -c 'import json,sys; print([b["label"] for b in json.load(sys.stdin)[0]["backup"] if b["type"]=="full"][-1])')
three "restore full -j$JOBS" "fresh" \
  "$PGBK restore $CFG -B $S3 -D $W/out --backup-id $FULL_S3 -j $JOBS -q" \
  "$PGBK restore -B $W/repo -D $W/out --backup-id $FULL_LOCAL -j $JOBS -q" \
  "$PGBR restore --pg1-path=$W/out --set=$PGBR_FULL --process-max=$JOBS"
# The disk's floor for the same restore: the cluster's files copied and made durable.
for _ in $(seq 1 "$RUNS"); do
  measure "restore floor (cp -a, syncfs)" "fresh" bash -c "cp -a $W/data/base $W/data/global $W/out/ && sync -f $W/out"
done
printf 'bench-s3: %-42s %7.2f s\n' "restore floor (cp -a, syncfs)" "$(median "restore floor (cp -a, syncfs)")"

echo "bench-s3: archive-push of 20 segments, one process per segment"
mkdir -p "$W/pushsrc"; [ "$(id -u)" = 0 ] && chown postgres: "$W/pushsrc"
SEGS=$(ls "$W"/repo/wal/*/ | grep -E '^[0-9A-F]{24}-' | cut -c1-24 | head -20 | tr '\n' ' ')
for name in $SEGS; do as_pg "$PGBK" archive-get -B "$W/repo" "$name" "$W/pushsrc/$name"; done
[ "$(id -u)" = 0 ] && chown -R postgres: "$W/pushsrc"
# Each run pushes into new, empty repositories (untimed setup).
push_prep() {
  local n=$RANDOM$RANDOM
  echo "$n" > "$W/push-id"; [ "$(id -u)" = 0 ] && chown postgres: "$W/push-id"
  as_pg $PGBK init $CFG -B "s3://pgbk/push$n" -D "$W/data" -q --compress zstd
  as_pg "$PGBK" init -B "$W/push$n" -D "$W/data" -q --compress zstd
  as_pg $PGBR --repo1-path="/push$n" stanza-create >/dev/null
}
three "archive-push x20 zstd" "push_prep" \
  "n=\$(cat $W/push-id); for s in $SEGS; do $PGBK archive-push $CFG -B s3://pgbk/push\$n $W/pushsrc/\$s || exit 1; done" \
  "n=\$(cat $W/push-id); for s in $SEGS; do $PGBK archive-push -B $W/push\$n $W/pushsrc/\$s || exit 1; done" \
  "n=\$(cat $W/push-id); for s in $SEGS; do $PGBR --repo1-path=/push\$n --archive-check=n archive-push $W/pushsrc/\$s || exit 1; done"

echo "bench-s3: recovery of 50 segments through archive-get"
as_pg $PGBK backup $CFG -B "$S3" -D "$W/data" -j "$JOBS" -q --compress zstd
as_pg $PGBK validate $CFG -B "$S3" -q -j "$JOBS"
as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --compress zstd
as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
as_pg $PGBR backup --type=full --process-max="$JOBS" >/dev/null
for i in $(seq 1 50); do
  as_pg "$PGBIN/psql" -q -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = $i" >/dev/null
  as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
done
LAST=$(as_pg "$PGBIN/psql" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
until [ "$(as_pg "$PGBIN/psql" -qAt -c "SELECT last_archived_wal >= '$LAST' FROM pg_stat_archiver")" = t ]; do sleep 0.5; done
as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null
as_pg $PGBK restore $CFG -B "$S3" -D "$W/base-s3" -j "$JOBS" -q
as_pg "$PGBK" restore -B "$W/repo" -D "$W/base-local" -j "$JOBS" -q
as_pg mkdir -m 700 "$W/base-pgbr"; as_pg $PGBR restore --pg1-path="$W/base-pgbr" --process-max="$JOBS"
# The replay floor: the same recovery with every segment already in pg_wal (restore_command
# finds nothing), PostgreSQL's own replay with no fetching at all.
mkdir -p "$W/walcopy"; [ "$(id -u)" = 0 ] && chown postgres: "$W/walcopy"
FIRST_WAL=$(sed -n 's/^START WAL LOCATION: .*(file \([0-9A-F]*\))$/\1/p' "$W/base-local/backup_label")
for name in $(ls "$W"/repo/wal/*/ | grep -E '^[0-9A-F]{24}-' | cut -c1-24 | sort -u); do
  [[ "$name" < "$FIRST_WAL" ]] || as_pg "$PGBK" archive-get -B "$W/repo" "$name" "$W/walcopy/$name"
done
# recover LABEL BASE SED: a copy of BASE, its restore_command edited by SED, started; the time
# from pg_ctl start to the end of recovery is recorded.
recover() {
  local label=$1 base=$2 edit=$3 t0 t1
  as_pg rm -rf "$W/out"; as_pg cp -a "$base" "$W/out"
  # pgBackRest's restore_command names the directory restored into: now the copy.
  as_pg sed -i -e "s|$base|$W/out|g" ${edit:+-e "$edit"} "$W/out/postgresql.auto.conf"
  [ "$label" = "replay floor" ] && as_pg cp "$W"/walcopy/* "$W/out/pg_wal/"
  as_pg sh -c "printf 'port = %s\narchive_mode = off\n' $((PORT + 1)) >> $W/out/postgresql.conf"
  t0=$(date +%s.%N)
  as_pg "$PGBIN/pg_ctl" -D "$W/out" -l "$W/recovery.log" -w -t 600 start >/dev/null \
    || { echo "bench-s3: recovery $label did not start:"; tail -20 "$W/recovery.log"; exit 1; }
  until [ "$(as_pg "$PGBIN/psql" -p $((PORT + 1)) -qAt -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  as_pg "$PGBIN/pg_ctl" -D "$W/out" -m immediate -w stop >/dev/null
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' >> "$W/m-recovery $label"
}
for _ in $(seq 1 "$RUNS"); do
  recover "pgbk-s3 prefetch" "$W/base-s3" ""
  recover "pgbk-s3 no prefetch" "$W/base-s3" "s| %f %p'| --queue-max 0 %f %p'|"
  recover "pgbk-s3 +${RTT}ms prefetch" "$W/base-s3" "s|s3.conf|s3-far.conf|"
  recover "pgbk-s3 +${RTT}ms no prefetch" "$W/base-s3" "s|s3.conf|s3-far.conf|; s| %f %p'| --queue-max 0 %f %p'|"
  recover "pgbk-local" "$W/base-local" ""
  recover "replay floor" "$W/base-local" "s|^restore_command = .*|restore_command = 'false'|"
  recover "pgBackRest-s3 sync" "$W/base-pgbr" "s|archive-get|--archive-async=n archive-get|"
  recover "pgBackRest-s3 async" "$W/base-pgbr" "s|archive-get|--archive-async=y --process-max=4 archive-get|"
  recover "pgBackRest-s3 +${RTT}ms sync" "$W/base-pgbr" "s|archive-get|--repo1-storage-port=$PROXY_PORT --archive-async=n archive-get|"
  recover "pgBackRest-s3 +${RTT}ms async" "$W/base-pgbr" "s|archive-get|--repo1-storage-port=$PROXY_PORT --archive-async=y --process-max=4 archive-get|"
done

echo
echo "bench-s3: medians of $RUNS runs on a $((CLUSTER_BYTES / 1048576)) MB cluster, $(nproc) CPUs, gateway on loopback (https), pgBackRest $PGBR_VERSION"
medians 50
echo
echo "ratios (wall time; lower is better for pgbk):"
for what in "full zstd -j$JOBS" "incremental (0.1% of accounts)" "restore full -j$JOBS" "archive-push x20 zstd"; do
  echo "  $what: pgbk-s3 / pgbk-local $(median_ratio "$what pgbk-s3" "$what pgbk-local"), pgbk-s3 / pgBackRest-s3 $(median_ratio "$what pgbk-s3" "$what pgBackRest-s3")"
done
echo "  recovery of 50 segments: pgbk-s3 prefetch / no prefetch $(median_ratio "recovery pgbk-s3 prefetch" "recovery pgbk-s3 no prefetch"); at +${RTT}ms $(median_ratio "recovery pgbk-s3 +${RTT}ms prefetch" "recovery pgbk-s3 +${RTT}ms no prefetch")"
echo "  recovery: pgbk-s3 prefetch / pgBackRest-s3 async $(median_ratio "recovery pgbk-s3 prefetch" "recovery pgBackRest-s3 async"); at +${RTT}ms $(median_ratio "recovery pgbk-s3 +${RTT}ms prefetch" "recovery pgBackRest-s3 +${RTT}ms async")"
echo "  recovery: pgbk-s3 prefetch / pgbk-local $(median_ratio "recovery pgbk-s3 prefetch" "recovery pgbk-local")"
echo "  restore: pgbk-s3 / the disk's floor $(median_ratio "restore full -j$JOBS pgbk-s3" "restore floor (cp -a, syncfs)"), pgBackRest-s3 / floor $(median_ratio "restore full -j$JOBS pgBackRest-s3" "restore floor (cp -a, syncfs)")"
echo "  recovery: pgbk-s3 prefetch / replay floor $(median_ratio "recovery pgbk-s3 prefetch" "recovery replay floor"), pgBackRest-s3 sync / replay floor $(median_ratio "recovery pgBackRest-s3 sync" "recovery replay floor")"
