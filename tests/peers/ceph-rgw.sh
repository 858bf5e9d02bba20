#!/usr/bin/env bash
# A throwaway one-node Ceph cluster with the RADOS Gateway (S3 with Object Lock) on loopback, for
# the tests and benchmarks of the S3 object store. Everything lives in DIR; nothing goes through
# systemd. One monitor, one OSD (memstore: objects in RAM), one radosgw; auth off (loopback only).
#
#   tests/peers/ceph-rgw.sh start DIR   -> prints RGW_URL=..., S3_ACCESS_KEY=..., S3_SECRET_KEY=...
#   tests/peers/ceph-rgw.sh stop DIR    -> ends the daemons (by their pid files), removes DIR
#
# Exit 77 when Ceph is not installed (callers report the test skipped). A start that fails half
# way stops what it started.
set -euo pipefail
cmd=${1:?usage: ceph-rgw.sh start|stop DIR}
DIR=${2:?usage: ceph-rgw.sh start|stop DIR}

stop() {
  local d=$1 name pid
  for name in client.rgw.v osd.0 mon.a; do
    [ -f "$d/run/$name.pid" ] || continue
    pid=$(cat "$d/run/$name.pid")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$d"
}

if [ "$cmd" = stop ]; then
  [ -d "$DIR" ] && stop "$(realpath "$DIR")"
  exit 0
fi
for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
  command -v "$b" >/dev/null || { echo "ceph-rgw: $b is not installed (scripts/bootstrap.sh)" >&2; exit 77; }
done
mkdir -p "$DIR"
DIR=$(realpath "$DIR")
trap 'stop "$DIR"' ERR
mkdir -p "$DIR"/{log,run,mon,osd}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mon_port=$(port)
rgw_port=$(port)
# The daemons' own messenger ports: a window of 100 chosen at random, away from the others'.
ms_min=$(( 40000 + (RANDOM % 200) * 100 ))
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
cat >"$DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = $ms_min
ms bind port max = $((ms_min + 99))
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
mon cluster log file = $DIR/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon data avail crit = 0
mon warn on pool no redundancy = false
[mon.a]
mon data = $DIR/mon
[osd.0]
osd data = $DIR/osd
osd objectstore = memstore
memstore device bytes = 4294967296
osd class load list = *
osd class default list = *
[client.rgw.v]
# radosgw asks for "secure" monitor connections by default, which auth none cannot give.
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw enable usage log = false
CONF
export CEPH_CONF=$DIR/ceph.conf
touch "$DIR/keyring"
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
ceph-mon -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" 2>>"$DIR/log/setup.log"
ceph-mon -i a 2>>"$DIR/log/setup.log"
osd=$(ceph osd create 2>>"$DIR/log/setup.log")
ceph-osd -i "$osd" --mkfs 2>>"$DIR/log/setup.log" >/dev/null
ceph-osd -i "$osd" 2>>"$DIR/log/setup.log" >/dev/null
radosgw -n client.rgw.v 2>>"$DIR/log/setup.log"
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$rgw_port/" && break
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$rgw_port/" || { echo "ceph-rgw: radosgw did not come up (see $DIR/log)" >&2; false; }
key=VBTEST$(python3 -c 'import secrets; print(secrets.token_hex(7).upper())')
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
radosgw-admin user create --uid=verbatim --display-name=verbatim \
  --access-key="$key" --secret-key="$secret" >/dev/null 2>>"$DIR/log/setup.log"
trap - ERR
echo "RGW_URL=http://127.0.0.1:$rgw_port"
echo "S3_ACCESS_KEY=$key"
echo "S3_SECRET_KEY=$secret"
echo "CEPH_CONF=$CEPH_CONF"
