# Sourced by bench.sh and bench-pg18.sh once ROOT, W (the scratch directory) and PORT are set:
# pgbk's release binary copied where the server's user can run it, libpq's environment for
# that server, and as_pg, which runs a command as postgres when the bench runs as root;
# timed/record/median for benches that keep one file of wall times per measurement
# ($W/m-LABEL), messages prefixed with $BENCH_NAME.
mkdir -p "$W"/{bin,sock}
cp "$ROOT/.build/release/pgbk" "$W/bin/pgbk"
PGBK=$W/bin/pgbk
export PGHOST=$W/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres PGDATABASE=postgres "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"
chmod 755 "$W"
timed() {  # command...: its wall seconds into $W/time.out
  as_pg /usr/bin/time -f '%e' -o "$W/time.out" "$@" >/dev/null 2>"$W/err.out" || { echo "${BENCH_NAME:-bench}: $* failed:"; cat "$W/err.out"; exit 1; }
}
record() { cat "$W/time.out" >> "$W/m-$1"; }
median() { sort -g "$W/m-$1" | sed -n "$(( ($(wc -l < "$W/m-$1") + 1) / 2 ))p"; }
# medians WIDTH: every measurement's median, one line each; median_ratio A B: A's over B's.
medians() { local f; for f in "$W"/m-*; do printf "%-${1}s %8.2f s\n" "${f#"$W"/m-}" "$(median "${f#"$W"/m-}")"; done; }
median_ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.2f", a / b }'; }
# new_cluster BIN [SETTINGS]: initdb of $W/data with BIN's binaries, this bench's port and
# socket, archiving through pgbk into $W/repo (or $ARCHIVE_COMMAND), SETTINGS appended; then
# pgbk init (with $INIT_ARGS) and the server started. $INITDB_ARGS: more initdb options.
new_cluster() {
  as_pg "$1/initdb" -D "$W/data" -U postgres -A trust -k --no-sync ${INITDB_ARGS:-} >/dev/null
  cat >> "$W/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$W/sock'
archive_mode = on
archive_command = '${ARCHIVE_COMMAND:-$PGBK archive-push -B $W/repo %p}'
max_wal_size = 2GB
shared_buffers = 256MB
${2:-}
CONF
  as_pg "$PGBK" init -B "$W/repo" -D "$W/data" -q ${INIT_ARGS:-}
  as_pg "$1/pg_ctl" -D "$W/data" -l "$W/server.log" -w start >/dev/null
}
# stop_cluster BIN: the bench's server stopped at once (for the EXIT trap).
stop_cluster() {
  [ -f "$W/data/postmaster.pid" ] && as_pg "$1/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1 || true
}
# make_tables BIN N: N small tables t1..tN (a heap, a primary key, a free space map and a
# visibility map each: about 4 N relation files), vacuumed and checkpointed.
make_tables() {
  as_pg "$1/psql" -q <<SQL
DO \$\$ BEGIN
  FOR i IN 1..$2 LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v int); INSERT INTO t%s VALUES (1, 1)', i, i);
    IF i % 500 = 0 THEN COMMIT; END IF;
  END LOOP;
END \$\$;
VACUUM;
CHECKPOINT;
SQL
}
# start_s3_gateway: the S3 benches' Ceph RADOS Gateway in $W/ceph (TLS_ENDPOINT, CA_BUNDLE,
# ACCESS_KEY, SECRET_KEY, TLS_PORT), a proxy adding $RTT ms per request on PROXY_PORT
# (PROXY_PID), and the buckets pgbk and pgbr. The caller's EXIT trap stops them.
start_s3_gateway() {
  echo "${BENCH_NAME:-bench}: starting a Ceph RADOS Gateway in $W/ceph"
  CEPH_MEMSTORE_BYTES=$((6 << 30)) "$ROOT/scripts/ceph-rgw.sh" start "$W/ceph" $((10000 + RANDOM % 9000)) > "$W/ceph.out" 2>"$W/ceph.err" \
    || { cat "$W/ceph.err"; exit 1; }
  eval "$(grep -E '^(TLS_ENDPOINT|CA_BUNDLE|ACCESS_KEY|SECRET_KEY)=' "$W/ceph.out")"
  TLS_PORT=${TLS_ENDPOINT##*:}
  PROXY_PORT=$((TLS_PORT + 1000))
  python3 "$ROOT/scripts/latency-proxy.py" "$PROXY_PORT" "$TLS_PORT" "$RTT" & PROXY_PID=$!
  local b
  for b in pgbk pgbr; do
    for _ in $(seq 1 50); do
      # The gateway wants the payload hash header, which curl's --aws-sigv4 does not add.
      curl -sf --cacert "$CA_BUNDLE" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" -X PUT \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$TLS_ENDPOINT/$b" -o /dev/null && break
      sleep 0.2
    done
  done
}
# The pgBackRest compared with: PGBACKREST, a path or a name on PATH (default pgbackrest,
# Debian's package), e.g. a newer release built by hand outside this repository;
# PGBR_VERSION names it in the figures. pgbr_strongest prints the repository settings of
# its strongest configuration: bundling, and block incremental from 2.46 on.
PGBACKREST_BIN=$(command -v "${PGBACKREST:-pgbackrest}" 2>/dev/null || true)
PGBR_VERSION=$([ -n "$PGBACKREST_BIN" ] && "$PGBACKREST_BIN" version | cut -d' ' -f2 || true)
pgbr_strongest() {
  echo "repo1-bundle=y"
  local minor; minor=$(echo "$PGBR_VERSION" | cut -d. -f2 | tr -dc 0-9)
  [ "$(echo "$PGBR_VERSION" | cut -d. -f1)" -gt 2 ] || [ "${minor:-0}" -ge 46 ] && echo "repo1-block=y"
  true
}
