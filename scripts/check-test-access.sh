#!/usr/bin/env bash
# Before any test starts: as root the tests run PostgreSQL as the postgres user, which must be
# able to execute every server the version matrix uses. Says so in one line when it cannot.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
here=$(dirname "$0")
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for major in 14 15 16 17 18; do
  var="PGBK_PG${major}_BIN"
  bin=${!var:-}
  [ -n "$bin" ] || { [ "$major" = 15 ] && bin=$PGBIN; } || true
  [ -n "$bin" ] || bin=$("$here/fetch-postgres.sh" --bin "$major")
  if [ -z "$bin" ] || ! runuser -u postgres -- test -x "$bin/initdb"; then
    echo "check-test-access: the postgres user cannot execute PostgreSQL $major's initdb in '${bin:-nowhere}': make it readable and executable by postgres (fetch-postgres.sh --where: $("$here/fetch-postgres.sh" --where))" >&2
    exit 1
  fi
done
