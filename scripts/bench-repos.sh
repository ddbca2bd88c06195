#!/usr/bin/env bash
# make bench, two-repository part (issue 24): on a local Ceph RADOS Gateway (https),
# - pgbk copy of a ~1 GB directory repository into a bucket, against `aws s3 sync` of the
#   same directory (awscli from PyPI), which checks nothing it copies;
# - archive-push of 50 segments, one process per segment, into a directory and a bucket at
#   once, against each of them alone.
# Medians of BENCH_RUNS (default 3) runs. Knobs: BENCH_REPOS_SCALE (pgbench scale, default 35:
# a ~1 GB repository: the backup uncompressed and the WAL of the load), BENCH_JOBS (default 2).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_REPOS_SCALE:-35}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_REPOS_PORT:-54361}
BENCH_NAME=bench-repos
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE S3_URI_STYLE S3_PART_SIZE S3_RETRIES S3_TIMEOUT ARCHIVE_GET_QUEUE_MAX PGBK_CONFIG
command -v aws >/dev/null || python3 -m pip install -q awscli >/dev/null
[ -x /usr/bin/time ] || { echo "bench-repos: GNU time is needed (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /tmp/pgbk-bench-repos.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
mkdir -p "$W/ceph"
cleanup() {
  stop_cluster "$PGBIN"
  "$ROOT/scripts/ceph-rgw.sh" stop "$W/ceph" || true
  rm -rf "$W"
}
trap cleanup EXIT

echo "bench-repos: starting a Ceph RADOS Gateway in $W/ceph"
CEPH_MEMSTORE_BYTES=$((8 << 30)) "$ROOT/scripts/ceph-rgw.sh" start "$W/ceph" $((10000 + RANDOM % 9000)) > "$W/ceph.out" 2>"$W/ceph.err" \
  || { cat "$W/ceph.err"; exit 1; }
eval "$(grep -E '^(TLS_ENDPOINT|CA_BUNDLE|ACCESS_KEY|SECRET_KEY)=' "$W/ceph.out")"
export AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_DEFAULT_REGION=us-east-1
# botocore's default CRC trailers fail against the gateway ("NoneType is not iterable"):
# checksums only where S3 requires one, i.e. sync checks nothing, as the issue says.
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
AWS="aws --endpoint-url $TLS_ENDPOINT --ca-bundle $CA_BUNDLE"
for b in pgbk sync; do
  for _ in $(seq 1 50); do $AWS s3api create-bucket --bucket "$b" >/dev/null 2>&1 && break; sleep 0.2; done
done
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_ENDPOINT_URL=%s\nAWS_CA_BUNDLE=%s\n' \
  "$ACCESS_KEY" "$SECRET_KEY" "$TLS_ENDPOINT" "$CA_BUNDLE" > "$W/s3.conf"
chmod 600 "$W/s3.conf"; [ "$(id -u)" = 0 ] && chown postgres: "$W/s3.conf"
CFG="--config $W/s3.conf"

echo "bench-repos: generating the cluster (pgbench scale $SCALE) and its backup"
new_cluster "$PGBIN"
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$PGBIN/psql" -q -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --compress none
as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
REPO_BYTES=$(du -sb "$W/repo" | cut -f1)
echo "bench-repos: the repository is $((REPO_BYTES / 1048576)) MB"

# Each run copies into a new prefix (its repository made by init, untimed).
copy_prep() {
  local n=$RANDOM$RANDOM
  echo "$n" > "$W/copy-id"; [ "$(id -u)" = 0 ] && chown postgres: "$W/copy-id"
  as_pg $PGBK init $CFG -B "s3://pgbk/copy$n" -D "$W/data" -q --compress none
}
for _ in $(seq 1 "$RUNS"); do
  copy_prep
  n=$(cat "$W/copy-id")
  timed $PGBK copy $CFG -B "$W/repo" -B "s3://pgbk/copy$n" --from-repo 1 --to-repo 2 -j "$JOBS" -q; record "copy pgbk"
  # awscli's own parallelism (10 requests at a time by default), as a DBA would run it.
  /usr/bin/time -f '%e' -o "$W/time.out" $AWS s3 sync --only-show-errors "$W/repo" "s3://sync/copy$n" >/dev/null; record "copy aws-s3-sync"
  # The copy restores: every backup in it reads back OK. Then both go (the gateway keeps
  # objects in memory).
  as_pg $PGBK validate $CFG -B "s3://pgbk/copy$n" --recheck -q -j "$JOBS"
  $AWS s3 rm --recursive --only-show-errors "s3://pgbk/copy$n"
  $AWS s3 rm --recursive --only-show-errors "s3://sync/copy$n"
done

echo "bench-repos: 50 segments for archive-push"
for i in $(seq 1 50); do
  as_pg "$PGBIN/psql" -q -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 200 = $i" >/dev/null
  as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
done
LAST=$(as_pg "$PGBIN/psql" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
as_pg "$PGBIN/psql" -qAt -c "SELECT pg_switch_wal()" >/dev/null
until [ "$(as_pg "$PGBIN/psql" -qAt -c "SELECT last_archived_wal >= '$LAST' FROM pg_stat_archiver")" = t ]; do sleep 0.5; done
mkdir -p "$W/pushsrc"; [ "$(id -u)" = 0 ] && chown postgres: "$W/pushsrc"
SEGS=$(ls "$W"/repo/wal/*/ | grep -E '^[0-9A-F]{24}-' | cut -c1-24 | sort | tail -50 | tr '\n' ' ')
for name in $SEGS; do as_pg "$PGBK" archive-get -B "$W/repo" "$name" "$W/pushsrc/$name"; done
push_prep() {
  local n=$RANDOM$RANDOM
  echo "$n" > "$W/push-id"; [ "$(id -u)" = 0 ] && chown postgres: "$W/push-id"
  as_pg $PGBK init $CFG -B "$W/push$n" -B "s3://pgbk/push$n" -D "$W/data" -q
}
for _ in $(seq 1 "$RUNS"); do
  for what in "directory" "bucket" "directory+bucket"; do
    push_prep
    n=$(cat "$W/push-id")
    case $what in
      directory) repos="-B $W/push$n" ;;
      bucket) repos="-B s3://pgbk/push$n" ;;
      *) repos="-B $W/push$n -B s3://pgbk/push$n" ;;
    esac
    timed bash -c "for s in $SEGS; do $PGBK archive-push $CFG $repos $W/pushsrc/\$s || exit 1; done"; record "archive-push x50 $what"
  done
done

echo
echo "bench-repos: medians of $RUNS runs, $(nproc) CPUs, gateway on loopback (https), repository $((REPO_BYTES / 1048576)) MB"
medians 40
echo
echo "ratios (wall time):"
echo "  copy: pgbk copy / aws s3 sync $(median_ratio "copy pgbk" "copy aws-s3-sync") (target at most 1.2)"
echo "  archive-push x50: directory+bucket / bucket $(median_ratio "archive-push x50 directory+bucket" "archive-push x50 bucket") (target at most 1.5), / directory $(median_ratio "archive-push x50 directory+bucket" "archive-push x50 directory")"
