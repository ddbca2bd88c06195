#!/usr/bin/env bash
# make bench, receive-wal part (issue 25): pgbench -c 4 for BENCH_RECEIVE_SECONDS (default 60)
# with the synchronous standby being pgbk receive-wal, then pg_receivewal --synchronous (one
# at a time, each with its own physical slot): TPS of each, and the receiver's CPU seconds
# (utime + stime from /proc) per GB of WAL the server wrote meanwhile. Then pgbk receive-wal
# as an asynchronous standby under the same load: its flush lag (pg_stat_replication
# flush_lag, sampled every second), against its status interval (10 s). archive_command is
# `true`: nothing else reads the WAL; each run starts at a checkpoint. Medians of BENCH_RUNS
# (default 3).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-3}
SECONDS_PER_RUN=${BENCH_RECEIVE_SECONDS:-60}
PORT=${BENCH_RECEIVE_PORT:-54371}
BENCH_NAME=bench-receive-wal
W=$(mktemp -d /tmp/pgbk-bench-receive.XXXXXX)
. "$ROOT/scripts/bench-env.sh"
cleanup() {
  [ -n "${RECEIVER:-}" ] && kill "$RECEIVER" 2>/dev/null || true
  stop_cluster "$PGBIN"
  rm -rf "$W"
}
trap cleanup EXIT
sql() { as_pg "$PGBIN/psql" -qAt -c "$1"; }

echo "bench-receive-wal: a cluster with pgbench scale 10"
ARCHIVE_COMMAND=true new_cluster "$PGBIN" "max_wal_senders = 10
synchronous_commit = on
checkpoint_timeout = 1h"
as_pg "$PGBIN/pgbench" -i -q -s 10 >/dev/null 2>&1
sql "SELECT pg_create_physical_replication_slot('bench_pgbk', true)" >/dev/null
sql "SELECT pg_create_physical_replication_slot('bench_pgrw', true)" >/dev/null

# start_receiver pgbk|pg_receivewal [sync]: in the background as postgres, its PID in RECEIVER.
start_receiver() {
  rm -rf "$W/recv"; mkdir -p "$W/recv"; [ "$(id -u)" = 0 ] && chown postgres: "$W/recv"
  if [ "$1" = pgbk ]; then
    as_pg "$PGBK" init -B "$W/recv/repo" -D "$W/data" -q
    as_pg "$PGBK" receive-wal -B "$W/recv/repo" --slot bench_pgbk --application-name bench -q > "$W/recv.log" 2>&1 &
  else
    as_pg "$PGBIN/pg_receivewal" -D "$W/recv" -S bench_pgrw ${2:+--synchronous} -d "application_name=bench" > "$W/recv.log" 2>&1 &
  fi
  sleep 1
  # as_pg may be runuser: the receiver is the newest process of that name.
  RECEIVER=$(pgrep -n -f "$([ "$1" = pgbk ] && echo 'pgbk receive-wal' || echo pg_receivewal)")
  for _ in $(seq 1 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'bench' AND state = 'streaming'")" = 1 ] && return
    sleep 0.2
  done
  echo "bench-receive-wal: $1 did not start streaming:"; cat "$W/recv.log"; exit 1
}
stop_receiver() { kill "$RECEIVER"; while kill -0 "$RECEIVER" 2>/dev/null; do sleep 0.1; done; RECEIVER=; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$RECEIVER/stat"; }

# sync_run pgbk|pg_receivewal: TPS into m-"tps NAME", CPU s per GB into m-"cpu NAME".
sync_run() {
  # Each run begins at a checkpoint: the full-page images, most of the WAL, come alike.
  sql "CHECKPOINT" >/dev/null
  start_receiver "$1" sync
  sql "ALTER SYSTEM SET synchronous_standby_names = 'bench'" >/dev/null; sql "SELECT pg_reload_conf()" >/dev/null
  until [ "$(sql "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bench'")" = sync ]; do sleep 0.2; done
  local from ticks tps to
  from=$(sql "SELECT pg_current_wal_lsn()"); ticks=$(cpu_ticks)
  tps=$(as_pg "$PGBIN/pgbench" -n -c 4 -j 2 -T "$SECONDS_PER_RUN" 2>/dev/null | awk '/^tps = / { print $3; exit }')
  to=$(sql "SELECT pg_current_wal_lsn()")
  local cpu=$(( $(cpu_ticks) - ticks )) bytes
  bytes=$(sql "SELECT pg_wal_lsn_diff('$to', '$from')::bigint")
  echo "$tps" >> "$W/m-tps $1"
  awk -v t="$cpu" -v hz="$(getconf CLK_TCK)" -v b="$bytes" 'BEGIN { printf "%.3f\n", t / hz / (b / 1e9) }' >> "$W/m-cpu-per-GB $1"
  echo "bench-receive-wal: $1 synchronous: $tps TPS, $((bytes >> 20)) MB of WAL, $cpu CPU ticks"
  sql "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null; sql "SELECT pg_reload_conf()" >/dev/null
  stop_receiver
}

# async_run: receive-wal not waited for; flush_lag sampled each second, its largest kept.
async_run() {
  sql "CHECKPOINT" >/dev/null
  start_receiver pgbk
  as_pg "$PGBIN/pgbench" -n -c 4 -j 2 -T "$SECONDS_PER_RUN" >/dev/null 2>&1 &
  local load=$! worst=0 lag
  while kill -0 "$load" 2>/dev/null; do
    lag=$(sql "SELECT coalesce(extract(epoch FROM flush_lag), 0) FROM pg_stat_replication WHERE application_name = 'bench'")
    worst=$(awk -v a="$worst" -v b="${lag:-0}" 'BEGIN { print (b > a ? b : a) }')
    sleep 1
  done
  wait "$load" || true
  echo "$worst" >> "$W/m-async-flush-lag-max pgbk"
  echo "bench-receive-wal: pgbk asynchronous: largest flush_lag $worst s"
  stop_receiver
}

for _ in $(seq 1 "$RUNS"); do
  sync_run pgbk
  sync_run pg_receivewal
  async_run
done

echo
echo "bench-receive-wal: medians of $RUNS runs of ${SECONDS_PER_RUN} s, pgbench -c 4, $(nproc) CPUs"
for f in "$W"/m-*; do printf '%-36s %10.3f\n' "${f#"$W"/m-}" "$(median "${f#"$W"/m-}")"; done
echo
echo "ratios:"
echo "  TPS, pgbk / pg_receivewal as the synchronous standby: $(median_ratio "tps pgbk" "tps pg_receivewal") (target at least 0.95)"
echo "  CPU s per GB of WAL, pgbk / pg_receivewal: $(median_ratio "cpu-per-GB pgbk" "cpu-per-GB pg_receivewal") (target at most 1.2)"
echo "  asynchronous: largest flush lag $(median "async-flush-lag-max pgbk") s (target at most the 10 s status interval)"
