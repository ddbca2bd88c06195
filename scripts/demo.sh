#!/usr/bin/env bash
# The whole pgbk cycle on a throwaway cluster: init, archive, full backup, validate, show,
# lose the cluster, restore, start, and a query proving every committed row came back.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGBK=${PGBK:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/pgbk}
WORK=$(mktemp -d /tmp/pgbk-demo.XXXXXX)
PORT=${DEMO_PORT:-54329}
export PGHOST=$WORK/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres

# PostgreSQL refuses to run as root: run the cluster (and pgbk) as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" "$@"; else "$@"; fi; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for d in "$WORK/data" "$WORK/restored"; do
    [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/sock" "$WORK/bin"
cp "$PGBK" "$WORK/bin/pgbk"   # a copy the postgres user can execute wherever the checkout is
PGBK=$WORK/bin/pgbk
[ "$(id -u)" = 0 ] && chown -R postgres: "$WORK"
chmod 755 "$WORK"
# Commands run as postgres start in the current directory: one it can enter, or each of them
# prints "could not change directory to ...: Permission denied" (a checkout under /root).
cd "$WORK"

step "initdb a throwaway cluster in $WORK/data (data checksums on)"
as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust -k --no-sync >/dev/null
cat >> "$WORK/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$WORK/sock'
wal_level = replica
archive_mode = on
archive_command = '$PGBK archive-push -B $WORK/repo %p'
CONF

step "pgbk init -B $WORK/repo -D $WORK/data"
as_pg "$PGBK" init -B "$WORK/repo" -D "$WORK/data"
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null

step "some data, then a full backup"
as_pg "$PGBIN/psql" -q -c "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)" \
  -c "INSERT INTO accounts SELECT g, 'owner ' || g, g * 10 FROM generate_series(1, 10000) g"
as_pg "$PGBK" backup -B "$WORK/repo" -D "$WORK/data" -b full

step "commits after the backup (replayed from the archive on restore)"
as_pg "$PGBIN/psql" -q -c "INSERT INTO accounts SELECT g, 'late ' || g, 0 FROM generate_series(10001, 10500) g" \
  -c "UPDATE accounts SET balance = balance + 1 WHERE id <= 100" -c "SELECT pg_switch_wal()" >/dev/null
EXPECTED=$(as_pg "$PGBIN/psql" -At -c "SELECT count(*) || ' rows, sum ' || sum(balance) FROM accounts")
sleep 1

step "pgbk validate, then pgbk show"
as_pg "$PGBK" validate -B "$WORK/repo"
as_pg "$PGBK" show -B "$WORK/repo"

step "disaster: the cluster is stopped and deleted"
as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null
rm -rf "$WORK/data"

step "pgbk restore -B $WORK/repo -D $WORK/restored, then start PostgreSQL"
as_pg "$PGBK" restore -B "$WORK/repo" -D "$WORK/restored"
as_pg "$PGBIN/pg_ctl" -D "$WORK/restored" -l "$WORK/restored.log" -w -t 120 start >/dev/null
until [ "$(as_pg "$PGBIN/psql" -At -c 'SELECT pg_is_in_recovery()')" = f ]; do sleep 0.2; done

step "the proof"
GOT=$(as_pg "$PGBIN/psql" -At -c "SELECT count(*) || ' rows, sum ' || sum(balance) FROM accounts")
echo "before the disaster: $EXPECTED"
echo "after the restore:   $GOT"
if [ "$GOT" = "$EXPECTED" ]; then echo "demo: OK, every committed row is back"; else echo "demo: FAILED"; exit 1; fi
