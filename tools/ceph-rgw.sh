#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway for tests: one monitor, one in-memory OSD, one gateway on
# 127.0.0.1, with authentication off inside the cluster and a user and bucket for S3 calls.
#   tools/ceph-rgw.sh start DIR PORT   prints endpoint=, access_key=, secret_key=, bucket= lines
#   tools/ceph-rgw.sh stop DIR         stops what start started and removes DIR
# Needs ceph-mon, ceph-osd, radosgw and ceph-common (tools/install-deps.sh). Objects live in
# memory: the OSD holds at most 8 GiB.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
    for pidfile in "$dir"/run/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
    done
    for pidfile in "$dir"/run/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}

# Waits up to $2 seconds for the command $1 to succeed.
wait_for() {
    local deadline=$((SECONDS + $2))
    until eval "$1" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "ceph-rgw: timed out waiting for: $1 (logs in $dir/log)" >&2
            return 1
        fi
        sleep 0.2
    done
}

start() {
    local port=$1
    local mon_port
    mon_port=$(free_port)
    mkdir -p "$dir"/{run,log,mon,osd/ceph-0}
    local conf="$dir/ceph.conf"
    local fsid
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms bind msgr2 = false
public network = 127.0.0.0/8
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 8589934592
osd crush chooseleaf type = 0
# The OSD would update its own place in the CRUSH map at start, in a command that can reach the
# monitor before the OSD knows the cluster's id and be refused; the script places it instead.
osd crush update on start = false
osd class update on start = false
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.\$pid.asok
log file = $dir/log/\$name.log
keyring = $dir/keyring
[mon]
mon data = $dir/mon/\$cluster-\$id
[osd]
osd data = $dir/osd/\$cluster-\$id
[client.rgw.test]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw dns name = localhost
rgw data = $dir/rgw
CONF
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
    ceph-mon -c "$conf" -i a 2>>"$dir/log/start.log"
    wait_for "timeout 5 ceph -c '$conf' mon stat" 30

    local osd_id osd_uuid
    osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    osd_id=$(ceph -c "$conf" osd create "$osd_uuid")
    ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/start.log" 2>&1
    ceph -c "$conf" osd crush add "osd.$osd_id" 1 root=default >/dev/null 2>&1
    ceph-osd -c "$conf" -i "$osd_id" 2>>"$dir/log/start.log"
    wait_for "timeout 5 ceph -c '$conf' osd stat | grep -q '1 up'" 60

    mkdir -p "$dir/rgw"
    radosgw -c "$conf" -n client.rgw.test 2>>"$dir/log/start.log"
    wait_for "curl -sf http://127.0.0.1:$port/" 60

    local access secret bucket=unidesk-test
    access=$(python3 -c 'import secrets; print(secrets.token_hex(10).upper())')
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
    radosgw-admin -c "$conf" -n client.rgw.test user create --uid=unidesk --display-name=unidesk \
        --access-key="$access" --secret="$secret" >/dev/null 2>>"$dir/log/start.log"
    create_bucket "http://127.0.0.1:$port" "$access" "$secret" "$bucket"

    echo "endpoint=http://127.0.0.1:$port"
    echo "access_key=$access"
    echo "secret_key=$secret"
    echo "bucket=$bucket"
}

# PUT /BUCKET signed with Signature Version 4 (python's standard library only).
create_bucket() {
    python3 - "$@" <<'PY'
import datetime, hashlib, hmac, sys, urllib.request
endpoint, access, secret, bucket = sys.argv[1:5]
host = endpoint.split("://", 1)[1]
now = datetime.datetime.now(datetime.timezone.utc)
date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
empty = hashlib.sha256(b"").hexdigest()
headers = {"host": host, "x-amz-content-sha256": empty, "x-amz-date": date}
names = ";".join(sorted(headers))
canonical = "\n".join(["PUT", "/" + bucket, "",
                       "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), names, empty])
scope = f"{day}/us-east-1/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + secret).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(endpoint + "/" + bucket, method="PUT", data=b"")
request.add_header("x-amz-content-sha256", empty)
request.add_header("x-amz-date", date)
request.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={access}/{scope},"
                                    f"SignedHeaders={names},Signature={signature}")
urllib.request.urlopen(request, timeout=30).read()
PY
}

case "$cmd" in
start)
    port=${3:?usage: $0 start DIR PORT}
    start "$port"
    ;;
stop)
    stop
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
