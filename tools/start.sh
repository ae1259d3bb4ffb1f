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

if [ ! -f "$state/kernel.toml" ]; then
    sed -e "s|@DATABASE_URL@|$db_url|" -e "s|@API_PORT@|$api_port|" \
        -e "s|@PLUGIN_DIR@|$top/build/plugins|" config/local.toml.in >"$state/kernel.toml"
fi

stop_all() {
    [ -n "${kernel_pid:-}" ] && kill "$kernel_pid" 2>/dev/null && wait "$kernel_pid" || true
    ./tools/pg-cluster.sh stop "$state/pg"
}
trap stop_all EXIT INT TERM

./build/bin/unidesk-kernel --config "$state/kernel.toml" &
kernel_pid=$!

for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
cat <<TEXT

UniDesk is running.
  core API and health: http://127.0.0.1:$api_port/health
  database:            $db_url (data in $state/pg)
  config:              $state/kernel.toml
  first admin:         $( [ -f "$state/initial-credentials" ] && echo "$state/initial-credentials" || echo "created on an earlier run")
Stop with Ctrl-C.
TEXT
wait "$kernel_pid"
