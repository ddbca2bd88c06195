#!/usr/bin/env bash
# make bench: pgbk against pg_basebackup (plain) and pgBackRest on one generated cluster.
# Every measurement runs BENCH_RUNS times (default 5: on the CI machine single runs vary by
# 20-50%); the table shows medians of wall time, throughput (cluster bytes / wall time),
# bytes written and peak RSS (GNU time).
# Knobs: BENCH_SCALE (pgbench scale, default 50), BENCH_TEXT_MB (random text, default 300),
# BENCH_JOBS (default 2), BENCH_DIR (default a new /tmp directory, removed at the end),
# BENCH_S3=0 (skip the S3 part), BENCH_REPOS=0 (skip bench-repos.sh: copy and two-repository archive-push), BENCH_RECEIVE=0 (skip bench-receive-wal.sh: receive-wal against pg_receivewal as the synchronous standby), BENCH_PROTOCOL=0 (skip bench-protocol.sh: backups over the replication protocol against pg_basebackup -Ft and --incremental), BENCH_SCALE_PART=0 (skip bench-scale.sh: incremental time on
# a 4x larger cluster), BENCH_MANY_FILES=0 (skip bench-many-files.sh: 100,000 files, peak RSS),
# BENCH_ENCRYPTION=0 (skip bench-encryption.sh: encrypted against plain and pgBackRest's cipher, rekey),
# BENCH_ARCHIVE_ASYNC=0 (skip bench-archive-async.sh: WAL keep-up of archive-push --async on S3 against pgBackRest's archive-async).
# BENCH_MERGE=0 (skip bench-merge.sh: pgbk merge of a full and 6 incrementals against a fresh full).
# BENCH_BUNDLES=0 (skip bench-bundles.sh: S3 requests of a ~100,000-file full and incremental, BUNDLE=on against pgBackRest repo1-bundle).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
SCALE=${BENCH_SCALE:-50}
TEXT_MB=${BENCH_TEXT_MB:-300}
JOBS=${BENCH_JOBS:-2}
PORT=${BENCH_PORT:-54331}

if [ "$(id -u)" = 0 ]; then
  missing=()
  command -v "${PGBACKREST:-pgbackrest}" >/dev/null || missing+=(pgbackrest)
  [ -x /usr/bin/time ] || missing+=(time)
  if [ ${#missing[@]} -gt 0 ]; then apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi
fi
command -v "${PGBACKREST:-pgbackrest}" >/dev/null || { echo "bench: pgbackrest is not installed (apt-get install pgbackrest)" >&2; exit 1; }

W=${BENCH_DIR:-$(mktemp -d /tmp/pgbk-bench.XXXXXX)}
mkdir -p "$W"/{bin,sock,log,lock,spool}
. "$ROOT/scripts/bench-env.sh"
cleanup() {
  for d in "$W/data"; do [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
  [ -z "${BENCH_DIR:-}" ] && rm -rf "$W"
}
trap cleanup EXIT

cat > "$W/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr-repo
log-path=$W/log
lock-path=$W/lock
spool-path=$W/spool
log-level-console=warn
log-level-file=off
start-fast=y
repo1-retention-full=9999
# archive_command below runs pgBackRest's archive-push too; its default gz would make every
# backup (both tools') wait longer for its last segment. Backups set their own compression.
compress-type=zst
# The peer at its strongest: bundling, and block incremental where it has it (2.46 on).
$(pgbr_strongest)
[bench]
pg1-path=$W/data
pg1-socket-path=$W/sock
pg1-port=$PORT
CONF
PGBR="$PGBACKREST_BIN --config=$W/pgbackrest.conf --stanza=bench"
echo "${BENCH_NAME:-bench}: comparing with pgBackRest $PGBR_VERSION ($PGBACKREST_BIN), $(pgbr_strongest | tr "\n" " ")"

echo "bench: generating the cluster (pgbench scale $SCALE + ${TEXT_MB} MB of random text) in $W"
ARCHIVE_COMMAND="$PGBK archive-push -B $W/repo %p && $PGBR archive-push %p" new_cluster "$PGBIN"
as_pg $PGBR stanza-create >/dev/null
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" >/dev/null 2>&1
as_pg "$PGBIN/psql" -q -c "CREATE EXTENSION IF NOT EXISTS pgcrypto" \
  -c "CREATE TABLE random_text AS SELECT g AS id, encode(gen_random_bytes(600), 'base64') AS body FROM generate_series(1, $((TEXT_MB * 1024 * 1024 / 850))) g" \
  -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT"
CLUSTER_BYTES=$(du -sb --exclude=pg_wal "$W/data" | cut -f1)  # what backups copy
echo "bench: cluster is $((CLUSTER_BYTES / 1048576)) MB"

# define NAME COMMAND...: a measurement, with BEFORE (shell code run before each run, untimed)
# and AFTER (shell code printing the bytes written, run after each run) as they are set now.
declare -A WALL RSS BYTES CMD PRE POST WALLS RSSES
define() {
  local name=$1; shift
  CMD[$name]=$(printf '%q ' "$@"); PRE[$name]=${BEFORE:-}; POST[$name]=${AFTER:-}
  WALLS[$name]=; RSSES[$name]=
}
run_once() {
  local name=$1 wall rss
  [ -n "${PRE[$name]}" ] && eval "${PRE[$name]}"
  eval "as_pg /usr/bin/time -f '%e %M' -o \"\$W/time.out\" ${CMD[$name]}" >/dev/null 2>"$W/err.out" \
    || { echo "bench: $name failed:"; cat "$W/err.out"; exit 1; }
  read -r wall rss < "$W/time.out"
  WALLS[$name]+="$wall "; RSSES[$name]+="$rss "
  if [ -n "${POST[$name]}" ]; then BYTES[$name]=$(eval "${POST[$name]}"); else BYTES[$name]=0; fi
}
median() { tr ' ' '\n' | grep . | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
# compare NAME...: RUNS rounds, each running every named measurement once in turn, so that a
# slow spell of this machine (single runs vary by 20-50% here) falls on every tool alike.
compare() {
  local name
  for _ in $(seq 1 "$RUNS"); do for name in "$@"; do run_once "$name"; done; done
  for name in "$@"; do
    WALL[$name]=$(echo "${WALLS[$name]}" | median); RSS[$name]=$(echo "${RSSES[$name]}" | median)
    printf 'bench: %-34s %8.2f s  %7d MB/s  peak RSS %6d kB\n' "$name" "${WALL[$name]}" \
      "$(awk -v b="$CLUSTER_BYTES" -v w="${WALL[$name]}" 'BEGIN { printf "%d", (w > 0 ? b / w / 1048576 : 0) }')" "${RSS[$name]}"
  done
  [ -d "$W/trash" ] && settle
  BEFORE=; AFTER=
}
newest_pgbk() { ls "$W/repo/backup" | grep -v '^\.' | tail -1; }
pgbk_written() { awk -F= '/^WRITE_BYTES=/ {print $2}' "$W/repo/backup/$(newest_pgbk)/backup.ini"; }
pgbr_written() { as_pg $PGBR info --output=json | python3 -c 'import json,sys; b=json.load(sys.stdin)[0]["backup"][-1]; print(b["info"]["repository"]["delta"])'; }
# A new empty target per run. The previous one is moved aside, not deleted: ext4 skips inodes
# freed in the last seconds (minutes while their table block is dirty) when it allocates, so
# creating ~1000 files right after deleting ~1000 costs several times more, and the tool
# measured later in a sequence would pay more. The moved-aside ones go after each measurement.
fresh() {
  mkdir -p "$W/trash"
  [ -d "$W/out" ] && mv "$W/out" "$W/trash/out.$RANDOM$RANDOM"
  mkdir -p "$W/out"; chown postgres: "$W/out" 2>/dev/null || true; chmod 700 "$W/out"
}
settle() { rm -rf "$W/trash" "$W/out"; sync; sleep 6; }

echo "bench: full backups"
BEFORE='fresh'; AFTER='du -sb $W/out | cut -f1'
# Like with like (issue 28): pg_basebackup with its default sync, as pgbk's backup is durable;
# --no-sync beside it, which does not wait for the disk.
define "pg_basebackup -Fp" "$PGBIN/pg_basebackup" -D "$W/out" -Fp -c fast
define "pg_basebackup -Fp --no-sync" "$PGBIN/pg_basebackup" -D "$W/out" -Fp -c fast --no-sync
# The durable write floors of this disk for the cluster's bytes: buffered writes then one
# fsync, and O_DIRECT (dd's 1 MiB writes, queue depth 1).
define "buffered+fsync write floor (dd)" dd if=/dev/zero of="$W/out/floor" bs=1M count=$((CLUSTER_BYTES / 1048576)) conv=fsync status=none
define "O_DIRECT write floor, backup (dd)" dd if=/dev/zero of="$W/out/floor" bs=1M count=$((CLUSTER_BYTES / 1048576)) oflag=direct status=none
# The same with the cluster's own bytes, read from PGDATA and written on the same disk (a
# virtual disk may write zeros faster than data): cp -r of the cluster but pg_wal, then one
# syncfs.
define "read+write floor (cp -r + sync)" bash -c "cd '$W/data' && mkdir '$W/out/copy' && cp -r \$(ls -A | grep -vx pg_wal) '$W/out/copy' && sync -f '$W/out/copy'"
BEFORE=; AFTER='pgbk_written'
define "pgbk full none -j$JOBS" "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q
define "pgbk full zstd -j$JOBS" "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --compress zstd --compress-level 3
define "pgbk full zlib-6 -j$JOBS" "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --compress zlib --compress-level 6
AFTER='pgbr_written'
define "pgBackRest full none pm$JOBS" $PGBR backup --type=full --compress-type=none --process-max="$JOBS"
define "pgBackRest full zst pm$JOBS" $PGBR backup --type=full --compress-type=zst --process-max="$JOBS"
define "pgBackRest full gz-6 pm$JOBS" $PGBR backup --type=full --compress-type=gz --compress-level=6 --process-max="$JOBS"
compare "pg_basebackup -Fp" "pg_basebackup -Fp --no-sync" "buffered+fsync write floor (dd)" "O_DIRECT write floor, backup (dd)" \
  "read+write floor (cp -r + sync)" "pgbk full none -j$JOBS" "pgBackRest full none pm$JOBS"
compare "pgbk full zstd -j$JOBS" "pgBackRest full zst pm$JOBS"
compare "pgbk full zlib-6 -j$JOBS" "pgBackRest full gz-6 pm$JOBS"
# --max-rate (issue 29: 20M, within 10%): one full at a capped rate; the rate measured over the whole backup.
RATE_MB=${BENCH_MAX_RATE_MB:-20}
t0=$(date +%s.%N)
as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --max-rate "${RATE_MB}M"
t1=$(date +%s.%N)
awk -v b="$CLUSTER_BYTES" -v a="$t0" -v c="$t1" -v r="$RATE_MB" 'BEGIN { m = b / (c - a) / 1048576; printf "bench: pgbk full none --max-rate %dM: %.2f s, %.1f MiB/s (%.1f%% of the rate asked)\n", r, c - a, m, 100 * m / r }'

# Incrementals after updating 0.1% of the rows of a table, scattered over all of it: the largest
# table (pgbench_accounts, with its primary key) and the random text (no index; the issue's
# reference figures, 350 rows and 166 MB stored by pgBackRest, are of this kind).
incremental() {
  local label=$1 sql=$2
  echo "bench: incremental after $label"
  as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
  # Fresh parents with the same compression for both tools.
  as_pg "$PGBK" backup -B "$W/repo" -D "$W/data" -j "$JOBS" -q --compress zstd --compress-level 3
  as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
  as_pg $PGBR backup --type=full --compress-type=zst --process-max="$JOBS" >/dev/null
  # pgbk bases an incremental on the newest OK (validated) backup: the previous round's is
  # validated first (untimed), as the user guide's cron line does, or each would hold every
  # change since the full while pgBackRest's hold the changes since its previous one.
  BEFORE="as_pg \"\$PGBK\" validate -B \"\$W/repo\" -q -j \"\$JOBS\"; as_pg \"\$PGBIN/psql\" -q -c \"$sql\""
  AFTER='pgbk_written'
  define "pgbk incremental $label" "$PGBK" backup -B "$W/repo" -D "$W/data" -b incremental -j "$JOBS" -q --compress zstd --compress-level 3
  BEFORE="as_pg \"\$PGBIN/psql\" -q -c \"$sql\""
  AFTER='pgbr_written'
  define "pgBackRest incr $label" $PGBR backup --type=incr --compress-type=zst --process-max="$JOBS"
  compare "pgbk incremental $label" "pgBackRest incr $label"
  # What the last one read of the cluster, and how it knew what changed (issue 16).
  local ini="$W/repo/backup/$(newest_pgbk)/backup.ini"
  echo "bench: pgbk incremental $label read $(awk -F= '/^SCANNED_DATA_BYTES=/ {print $2}' "$ini") of $(awk -F= '/^TOTAL_DATA_BYTES=/ {print $2}' "$ini") bytes (changes from $(awk -F= '/^CHANGE_SOURCE=/ {print $2}' "$ini"))"
  as_pg "$PGBK" validate -B "$W/repo" -q -j "$JOBS"
}
incremental "accounts 0.1%" "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 1000 = 7"
incremental "random_text 0.1%" "UPDATE random_text SET body = reverse(body) WHERE id % 1000 = 7"

echo "bench: restores and validate"
FULL_ID=$(as_pg "$PGBK" show -B "$W/repo" --json | python3 -c 'import json,sys; print([b["id"] for b in json.load(sys.stdin) if b["mode"]=="FULL" and b["status"]=="OK"][-1])')
PGBR_FULL=$(as_pg $PGBR info --output=json | python3 -c 'import json,sys; print([b["label"] for b in json.load(sys.stdin)[0]["backup"] if b["type"]=="full"][-1])')
BEFORE='fresh'; AFTER='du -sb $W/out | cut -f1'
define "pgbk restore full -j$JOBS" "$PGBK" restore -B "$W/repo" -D "$W/out" --backup-id "$FULL_ID" -j "$JOBS" -q
define "pgBackRest restore full pm$JOBS" $PGBR restore --pg1-path="$W/out" --set="$PGBR_FULL" --process-max="$JOBS"
define "pgbk restore chain -j$JOBS" "$PGBK" restore -B "$W/repo" -D "$W/out" -j "$JOBS" -q
define "pgBackRest restore incr pm$JOBS" $PGBR restore --pg1-path="$W/out" --process-max="$JOBS"
# The floor a restore is held to (issue 16): the same number of bytes written with O_DIRECT
# into an empty directory of the same filesystem, by dd.
define "O_DIRECT write floor (dd)" dd if=/dev/zero of="$W/out/floor" bs=1M count=$((CLUSTER_BYTES / 1048576)) oflag=direct status=none
compare "pgbk restore full -j$JOBS" "pgBackRest restore full pm$JOBS" "O_DIRECT write floor (dd)"
compare "pgbk restore chain -j$JOBS" "pgBackRest restore incr pm$JOBS"
# Rebuilding a node (issue 14): a copy restored by each tool has 1% of its pages changed
# before each run, then is restored over with --delta; against the restores above.
echo "bench: delta restore of a node with 1% of its pages changed"
rm -rf "$W/node" "$W/pgbr-node"; mkdir -m 700 "$W/node" "$W/pgbr-node"; chown postgres: "$W/node" "$W/pgbr-node" 2>/dev/null || true
as_pg "$PGBK" restore -B "$W/repo" -D "$W/node" -j "$JOBS" -q
as_pg $PGBR restore --pg1-path="$W/pgbr-node" --process-max="$JOBS" >/dev/null
# Both nodes start cold: pgbk's restore drops what it wrote from the page cache and
# pgBackRest's leaves it there, so a delta reading a warm node against a cold one measured the
# cache (as root the cache is dropped before each run; otherwise both nodes are read once
# beforehand, warm alike).
same_cache() {
  sync
  if [ "$(id -u)" = 0 ]; then echo 3 > /proc/sys/vm/drop_caches; else find "$1" -type f -exec cat {} + >/dev/null 2>&1 || true; fi
}
echo "bench: delta restores start from a $([ "$(id -u)" = 0 ] && echo cold || echo warm) page cache"
BEFORE="python3 $ROOT/scripts/bench-change-pages.py $W/node 0.01 2>/dev/null; same_cache $W/node"; AFTER=
define "pgbk restore --delta 1% -j$JOBS" "$PGBK" restore -B "$W/repo" -D "$W/node" --delta -j "$JOBS" -q
BEFORE="python3 $ROOT/scripts/bench-change-pages.py $W/pgbr-node 0.01 2>/dev/null; same_cache $W/pgbr-node"
define "pgBackRest restore --delta 1% pm$JOBS" $PGBR restore --pg1-path="$W/pgbr-node" --delta --process-max="$JOBS"
compare "pgbk restore --delta 1% -j$JOBS" "pgBackRest restore --delta 1% pm$JOBS"
rm -rf "$W/node" "$W/pgbr-node"

BEFORE=; AFTER=
define "pgbk validate full -j$JOBS" "$PGBK" validate -B "$W/repo" "$FULL_ID" -j "$JOBS" -q
define "pgBackRest verify" $PGBR verify
compare "pgbk validate full -j$JOBS" "pgBackRest verify"

echo "bench: archive-push of 50 segments, one process per segment"
mkdir -p "$W/pgbr-push"; [ "$(id -u)" = 0 ] && chown postgres: "$W/pgbr-push"
as_pg $PGBR --repo1-path="$W/pgbr-push" stanza-create >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast -w stop >/dev/null
# 50 real segments of this cluster, taken back out of pgbk's archive under their own names
# (archive-push checks that a segment's first page is where its name says).
mkdir -p "$W/pushsrc"; [ "$(id -u)" = 0 ] && chown postgres: "$W/pushsrc"
SEGS=$(ls "$W"/repo/wal/*/ | grep -E '^[0-9A-F]{24}-' | cut -c1-24 | head -50 | tr '\n' ' ')
for name in $SEGS; do as_pg "$PGBK" archive-get -B "$W/repo" "$name" "$W/pushsrc/$name"; done
[ "$(id -u)" = 0 ] && chown -R postgres: "$W/pushsrc"
N=$(echo $SEGS | wc -w)
for c in none zst; do
  pc=$c; [ $c = zst ] && pc=zstd
  BEFORE="rm -rf $W/push-repo; as_pg $PGBK init -B $W/push-repo -D $W/data -q --compress $pc"
  define "pgbk archive-push $c x$N" bash -c "for s in $(echo $SEGS); do $PGBK archive-push -B $W/push-repo $W/pushsrc/\$s || exit 1; done"
  BEFORE="find $W/pgbr-push/archive/bench -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +"
  define "pgBackRest archive-push $c x$N" bash -c "for s in $(echo $SEGS); do $PGBR --repo1-path=$W/pgbr-push --compress-type=$c --archive-check=n archive-push $W/pushsrc/\$s || exit 1; done"
  compare "pgbk archive-push $c x$N" "pgBackRest archive-push $c x$N"
done

# Issue 16: incremental time against cluster size, and a cluster of ~100,000 files.
if [ "${BENCH_SCALE_PART:-1}" != 0 ]; then echo; "$ROOT/scripts/bench-scale.sh"; fi
if [ "${BENCH_MERGE:-1}" != 0 ]; then echo; "$ROOT/scripts/bench-merge.sh"; fi
if [ "${BENCH_MANY_FILES:-1}" != 0 ]; then echo; "$ROOT/scripts/bench-many-files.sh"; fi
if [ -n "$("$ROOT/scripts/fetch-postgres.sh" --bin 18)" ]; then
  echo
  "$ROOT/scripts/bench-pg18.sh"
fi
# The repository on S3 (a local Ceph gateway, which only root can start here).
if [ "$(id -u)" = 0 ] && [ "${BENCH_S3:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-s3.sh"
fi
# Bundles (issue 28): S3 requests of a full and an incremental of ~100,000 files.
if [ "$(id -u)" = 0 ] && [ "${BENCH_S3:-1}" != 0 ] && [ "${BENCH_BUNDLES:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-bundles.sh"
fi
# Two repositories (issue 24): copy into a bucket against aws s3 sync, archive-push into two.
if [ "$(id -u)" = 0 ] && [ "${BENCH_S3:-1}" != 0 ] && [ "${BENCH_ARCHIVE_ASYNC:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-archive-async.sh"
fi
if [ "$(id -u)" = 0 ] && [ "${BENCH_REPOS:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-repos.sh"
fi
if [ "${BENCH_RECEIVE:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-receive-wal.sh"
fi
if [ "${BENCH_PROTOCOL:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-protocol.sh"
fi
if [ "${BENCH_ENCRYPTION:-1}" != 0 ]; then
  echo
  "$ROOT/scripts/bench-encryption.sh"
fi

echo
echo "bench: medians of $RUNS runs on a $((CLUSTER_BYTES / 1048576)) MB cluster, $(nproc) CPUs"
printf '%-36s %9s %9s %14s %12s\n' "measurement" "wall s" "MB/s" "bytes written" "peak RSS kB"
for k in "${!WALL[@]}"; do echo "$k"; done | sort | while read -r k; do
  printf '%-36s %9.2f %9d %14s %12s\n' "$k" "${WALL[$k]}" \
    "$(awk -v b="$CLUSTER_BYTES" -v w="${WALL[$k]}" 'BEGIN { printf "%d", (w > 0 ? b / w / 1048576 : 0) }')" "${BYTES[$k]}" "${RSS[$k]}"
done
ratio() { awk -v a="${WALL[$1]}" -v b="${WALL[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "ratios (pgbk / peer, wall time; lower is better):"
echo "  full none  vs pg_basebackup:      $(ratio "pgbk full none -j$JOBS" "pg_basebackup -Fp") (both durable; vs --no-sync: $(ratio "pgbk full none -j$JOBS" "pg_basebackup -Fp --no-sync"))"
echo "  full none  vs durable write floor: $(ratio "pgbk full none -j$JOBS" "buffered+fsync write floor (dd)") buffered+fsync, $(ratio "pgbk full none -j$JOBS" "O_DIRECT write floor, backup (dd)") O_DIRECT (target 1.3); $(ratio "pgbk full none -j$JOBS" "read+write floor (cp -r + sync)") cp -r + sync"
echo "  full none  vs pgBackRest:         $(ratio "pgbk full none -j$JOBS" "pgBackRest full none pm$JOBS")"
echo "  full zstd  vs pgBackRest zst:     $(ratio "pgbk full zstd -j$JOBS" "pgBackRest full zst pm$JOBS")"
echo "  full zlib6 vs pgBackRest gz6:     $(ratio "pgbk full zlib-6 -j$JOBS" "pgBackRest full gz-6 pm$JOBS")"
for t in "accounts 0.1%" "random_text 0.1%"; do
  echo "  incremental $t vs pgBackRest: $(ratio "pgbk incremental $t" "pgBackRest incr $t") in time; bytes ${BYTES["pgbk incremental $t"]} vs ${BYTES["pgBackRest incr $t"]} = 1/$(awk -v a="${BYTES["pgbk incremental $t"]}" -v b="${BYTES["pgBackRest incr $t"]}" 'BEGIN { printf "%.1f", b / a }')"
done
echo "  restore full vs pgBackRest:       $(ratio "pgbk restore full -j$JOBS" "pgBackRest restore full pm$JOBS")"
echo "  restore chain vs pgBackRest:      $(ratio "pgbk restore chain -j$JOBS" "pgBackRest restore incr pm$JOBS")"
echo "  restore full vs O_DIRECT floor:   $(ratio "pgbk restore full -j$JOBS" "O_DIRECT write floor (dd)") (target 2)"
echo "  restore chain vs O_DIRECT floor:  $(ratio "pgbk restore chain -j$JOBS" "O_DIRECT write floor (dd)") (target 2.5)"
echo "  restore --delta 1% vs full restore: $(ratio "pgbk restore --delta 1% -j$JOBS" "pgbk restore chain -j$JOBS") (pgBackRest: $(ratio "pgBackRest restore --delta 1% pm$JOBS" "pgBackRest restore incr pm$JOBS"))"
echo "  restore --delta 1% vs pgBackRest: $(ratio "pgbk restore --delta 1% -j$JOBS" "pgBackRest restore --delta 1% pm$JOBS")"
echo "  archive-push none vs pgBackRest:  $(ratio "pgbk archive-push none x$N" "pgBackRest archive-push none x$N")"
echo "  archive-push zstd vs pgBackRest:  $(ratio "pgbk archive-push zst x$N" "pgBackRest archive-push zst x$N")"
