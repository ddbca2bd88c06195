#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with a RADOS Gateway on 127.0.0.1, for testing pgbk's
# S3 repository against a real S3 implementation (SigV4 enforced, multipart, ListObjectsV2).
# Facts from shared/notes/object-storage.md. Everything lives under one directory; the OSD
# uses memstore, so the data is gone when it stops.
#
#   scripts/ceph-rgw.sh start DIR [PORT]   prints ENDPOINT (http on PORT), TLS_ENDPOINT (https on
#                                          PORT+2, a self-signed certificate for 127.0.0.1),
#                                          CA_BUNDLE (that certificate), ACCESS_KEY, SECRET_KEY
#                                          CEPH_MEMSTORE_BYTES sizes the OSD (default 2 GiB)
#   scripts/ceph-rgw.sh stop DIR
#   scripts/ceph-rgw.sh stop-gateway DIR    stops only radosgw (the data stays in the OSD)
#   scripts/ceph-rgw.sh start-gateway DIR   starts it again and waits until it answers
#
# Needs root (the daemons run as root here) and Debian's radosgw, ceph-mon and ceph-osd,
# which it installs when missing.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?directory}

stop() {
  # The daemons remove their own pid files as they exit: read each pid once.
  local pids=()
  for pidfile in "$dir"/run/*.pid; do
    pid=$(cat "$pidfile" 2>/dev/null) && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir"/run/*.pid
}

wait_for_gateway() {
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.2
  done
  echo "ceph-rgw: the gateway on port $1 does not answer" >&2
  return 1
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
if [ "$cmd" = stop-gateway ]; then
  pid=$(cat "$dir/run/client.rgw.pgbk.pid")
  kill "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  exit 0
fi
if [ "$cmd" = start-gateway ]; then
  radosgw --conf "$dir/ceph.conf" -n client.rgw.pgbk
  wait_for_gateway "$(cat "$dir/port")"
  exit 0
fi
[ "$cmd" = start ] || { echo "ceph-rgw: start or stop, not $cmd" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "ceph-rgw: needs root" >&2; exit 1; }
if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null
fi

# Below the kernel's ephemeral range (32768-60999), where a client socket may hold a port.
port=${3:-$((10000 + RANDOM % 10000))}
monport=$((port + 1))
tlsport=$((port + 2))
rm -rf "$dir"/{run,log,mon,osd,monmap,ceph.conf,mon.keyring,admin.keyring,rgw.keyring}
# A start that fails half-way leaves no daemons behind.
trap 'status=$?; if [ $status -ne 0 ]; then echo "ceph-rgw: start failed; logs in $dir/log" >&2; stop; fi' EXIT
mkdir -p "$dir"/{run,log,mon,osd}
fsid=$(cat /proc/sys/kernel/random/uuid)
conf=$dir/ceph.conf
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" >/dev/null 2>&1
chmod 644 "$dir/tls.crt"
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$monport]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/admin.keyring
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
ms bind ipv6 = false
run dir = $dir/run
log file = $dir/log/\$name.log
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
[mon]
mon data = $dir/mon/\$cluster-\$id
[osd]
osd data = $dir/osd/\$cluster-\$id
keyring = $dir/osd/\$cluster-\$id/keyring
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-2147483648}
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.pgbk]
# tcp_nodelay: without it a small response waits for a delayed ACK (40 ms per GET of a
# catalog file, measured); production gateways want it too.
rgw frontends = beast endpoint=127.0.0.1:$port ssl_endpoint=127.0.0.1:$tlsport ssl_certificate=$dir/tls.crt ssl_private_key=$dir/tls.key tcp_nodelay=1
rgw dns name = 127.0.0.1
# Deleted objects' data goes at once, not after RGW's default two hours: memstore holds it
# in memory, and a bench that copies and deletes gigabytes would fill it.
rgw gc obj min wait = 0
rgw gc processor period = 5
# SSE-KMS with the gateway's built-in testing key backend (its key "testkey-1"); SSE-C and
# SSE-KMS are served over https only (rgw crypt require ssl, the default).
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$(head -c 32 /dev/urandom | base64)
keyring = $dir/rgw.keyring
CONF
C="--conf $conf"

ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/admin.keyring" >/dev/null
monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$monport]" "$dir/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring"
ceph-mon $C -i a

osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(ceph $C osd new "$osd_uuid")
mkdir -p "$dir/osd/ceph-$osd_id"
ceph-osd $C -i "$osd_id" --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid" >/dev/null 2>&1
ceph $C auth add "osd.$osd_id" osd 'allow *' mon 'allow profile osd' -i "$dir/osd/ceph-$osd_id/keyring" >/dev/null
ceph-osd $C -i "$osd_id"
for _ in $(seq 1 100); do
  ceph $C osd stat 2>/dev/null | grep -q "1 up" && break
  sleep 0.3
done

ceph $C auth get-or-create client.rgw.pgbk mon 'allow rw' osd 'allow rwx' -o "$dir/rgw.keyring" >/dev/null
radosgw $C -n client.rgw.pgbk
echo "$port" > "$dir/port"
wait_for_gateway "$port"
# A second storage class, STANDARD_IA, in the default placement (S3_STORAGE_CLASS's tests).
# The zone exists once the gateway has started, and the gateway reads its placement when it
# starts: so it is started again once.
radosgw-admin $C -n client.admin zonegroup placement add --rgw-zonegroup default --placement-id default-placement \
  --storage-class STANDARD_IA >/dev/null
radosgw-admin $C -n client.admin zone placement add --rgw-zone default --placement-id default-placement \
  --storage-class STANDARD_IA --data-pool default.rgw.standard-ia.data >/dev/null
rgw_pid=$(cat "$dir/run/client.rgw.pgbk.pid")
kill "$rgw_pid"
for _ in $(seq 1 100); do kill -0 "$rgw_pid" 2>/dev/null || break; sleep 0.1; done
radosgw $C -n client.rgw.pgbk
wait_for_gateway "$port"
access=PGBK$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
radosgw-admin $C -n client.admin user create --uid=pgbk --display-name=pgbk \
  --access-key="$access" --secret-key="$secret" >/dev/null
echo "ENDPOINT=http://127.0.0.1:$port"
echo "TLS_ENDPOINT=https://127.0.0.1:$tlsport"
echo "CA_BUNDLE=$dir/tls.crt"
echo "ACCESS_KEY=$access"
echo "SECRET_KEY=$secret"
