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
