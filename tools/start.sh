#!/usr/bin/env bash
# Starts UniDesk on this machine: installs what is missing, builds, starts PostgreSQL in
# .unidesk/pg (data kept between runs), writes .unidesk/kernel.toml on the first run, and
# runs the kernel in the foreground until Ctrl-C. The first run prints the administrator's
# password and API token once; they are also kept in .unidesk/initial-credentials.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state="$top/.unidesk"
pg_port=${UNIDESK_PG_PORT:-55432}
api_port=${UNIDESK_API_PORT:-7700}

./tools/install-deps.sh
./tools/build.sh

mkdir -p "$state"
url=$(./tools/pg-cluster.sh start "$state/pg" "$pg_port")
db_url="postgresql://postgres@127.0.0.1:$pg_port/unidesk"
if ! psql "$url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'unidesk'" | grep -q 1; then
    psql "$url" -qc "CREATE DATABASE unidesk"
fi

first_run=0
if [ ! -f "$state/kernel.toml" ]; then
    first_run=1
    sed -e "s|@DATABASE_URL@|$db_url|" -e "s|@API_PORT@|$api_port|" \
        -e "s|@PLUGIN_DIR@|$top/build/plugins|" config/local.toml.in >"$state/kernel.toml"
fi

stop_all() {
    if [ -n "${kernel_pid:-}" ]; then
        kill "$kernel_pid" 2>/dev/null || true
        wait "$kernel_pid" 2>/dev/null || true
    fi
    ./tools/pg-cluster.sh stop "$state/pg"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

./build/bin/unidesk-kernel --config "$state/kernel.toml" &
kernel_pid=$!

# Wait until the kernel answers and its database is migrated (and, on the first run, the
# first admin is made).
creds="$state/initial-credentials"
status=""
for _ in $(seq 1 300); do
    status=$(curl -s "http://127.0.0.1:$api_port/health" | grep -o '"status":"[a-z]*"' | head -1 || true)
    if [ "$status" = '"status":"ok"' ] || [ "$status" = '"status":"degraded"' ]; then
        [ "$first_run" = 0 ] || [ -f "$creds" ] && break
    fi
    kill -0 "$kernel_pid" 2>/dev/null || { echo "unidesk-kernel exited; see its log above" >&2; exit 1; }
    sleep 0.1
done
cat <<TEXT

UniDesk is running.
  core API and health: http://127.0.0.1:$api_port/health   (now: ${status#*:})
  database:            $db_url (data in $state/pg)
  config:              $state/kernel.toml
  administrator:       $([ -f "$creds" ] && echo "user and API token in $creds" || echo "created on the first run, which printed them")
  try:                 curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$api_port/v1/whoami
Stop with Ctrl-C.
TEXT
wait "$kernel_pid"
