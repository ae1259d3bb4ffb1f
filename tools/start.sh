#!/usr/bin/env bash
# Starts UniDesk on this machine: installs what is missing, builds, starts PostgreSQL in
# .unidesk/pg (data kept between runs), writes .unidesk/kernel.toml on the first run, runs the
# kernel, and joins this machine as a compute node: a local unidesk-agent with a node token of
# its own, connected through the provider listener exactly as a remote agent would be. Runs in
# the foreground until Ctrl-C. The first run prints the administrator's password and API token
# once; they are also kept in .unidesk/initial-credentials.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state="$top/.unidesk"
pg_port=${UNIDESK_PG_PORT:-55432}
api_port=${UNIDESK_API_PORT:-7700}
provider_port=${UNIDESK_PROVIDER_PORT:-7701}
web_port=${UNIDESK_WEB_PORT:-8080}
# A node name is a-z or 0-9 first, then at most 63 of a-z 0-9 . _ - (the host name in lower case,
# anything else made '-').
node_name=$(hostname -s | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._\n-' '-' | cut -c1-64)
case "$node_name" in [a-z0-9]*) ;; *) node_name="node-${node_name}" ; node_name=${node_name:0:64} ;; esac

./tools/install-deps.sh
./tools/build.sh unidesk-platform  # the programs and plugins; the tests are left to tools/test.sh
# The web UI, built to web/dist, which the gateway plugin serves.
if [ -f web/package.json ]; then
    (cd web && npm run build >/dev/null)
fi
# The local agent runs tasks with this machine's Docker engine.
./tools/dockerd.sh

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
        -e "s|@PROVIDER_PORT@|$provider_port|" -e "s|@PLUGIN_DIR@|$top/build/plugins|" \
        -e "s|@WEB_PORT@|$web_port|" -e "s|@WEB_DIR@|$top/web/dist|" \
        -e "s|@STATE_DIR@|$state|" -e "s|@STORAGE_SECRET@|$(openssl rand -hex 32)|" \
        config/local.toml.in >"$state/kernel.toml"
    chmod 600 "$state/kernel.toml"  # it holds the storage signing secret
fi

stop_all() {
    if [ -n "${agent_pid:-}" ]; then
        kill "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" 2>/dev/null || true
    fi
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
# The local agent: on the first run an administrator's token issues a node token for this
# machine, kept with the agent's config in .unidesk/agent.toml (mode 0600).
agent_config="$state/agent.toml"
if [ ! -f "$agent_config" ] && [ -f "$creds" ]; then
    admin_token=$(sed -n 's/^token=//p' "$creds")
    node_token=$(curl -sf -H "Authorization: Bearer $admin_token" -d "{\"node_name\": \"$node_name\"}" \
        "http://127.0.0.1:$api_port/v1/node-tokens" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])') || node_token=""
    if [ -n "$node_token" ]; then
        umask 077
        cat >"$agent_config" <<AGENT
server = "ws://127.0.0.1:$provider_port"
token = "$node_token"
name = "$node_name"
work_dir = "$state/agent-work"
AGENT
        umask 022
    else
        echo "start: could not issue a node token for the local agent" >&2
    fi
fi
node_state="not joined (no .unidesk/agent.toml)"
if [ -f "$agent_config" ]; then
    ./build/bin/unidesk-agent --config "$agent_config" &
    agent_pid=$!
    node_state="connecting (see: unidesk nodes)"
    admin_token=$(sed -n 's/^token=//p' "$creds" 2>/dev/null || true)
    for _ in $(seq 1 100); do
        if curl -s -H "Authorization: Bearer $admin_token" \
            "http://127.0.0.1:$api_port/v1/nodes/$node_name" | grep -q '"state":"online"'; then
            node_state="online"
            break
        fi
        kill -0 "$agent_pid" 2>/dev/null || { node_state="agent exited; see its log above"; break; }
        sleep 0.1
    done
fi

cat <<TEXT

UniDesk is running.
  web UI:              http://127.0.0.1:$web_port/   (sign in as $(sed -n 's/^user=//p' "$creds" 2>/dev/null || echo admin), password in $creds)
  core API and health: http://127.0.0.1:$api_port/health   (now: ${status#*:})
  agents connect to:   ws://127.0.0.1:$provider_port   (node tokens: unidesk node-token create NAME)
  this machine:        node $node_name, $node_state
  database:            $db_url (data in $state/pg)
  config:              $state/kernel.toml
  administrator:       $([ -f "$creds" ] && echo "user and API token in $creds" || echo "created on the first run, which printed them")
  try:                 export UNIDESK_SERVER=http://127.0.0.1:$api_port UNIDESK_TOKEN=...
                       build/bin/unidesk nodes
                       build/bin/unidesk submit --code-repo URL --code-commit SHA \\
                           --env-repo URL --env-commit SHA --wait -- python3 main.py
Stop with Ctrl-C.
TEXT
wait "$kernel_pid"
