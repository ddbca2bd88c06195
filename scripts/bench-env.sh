# Sourced by bench.sh and bench-pg18.sh once ROOT, W (the scratch directory) and PORT are set:
# pgbk's release binary copied where the server's user can run it, libpq's environment for
# that server, and as_pg, which runs a command as postgres when the bench runs as root.
mkdir -p "$W"/{bin,sock}
cp "$ROOT/.build/release/pgbk" "$W/bin/pgbk"
PGBK=$W/bin/pgbk
export PGHOST=$W/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres PGDATABASE=postgres "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown -R postgres: "$W"
chmod 755 "$W"
