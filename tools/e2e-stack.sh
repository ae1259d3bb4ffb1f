#!/usr/bin/env bash
# Runs a command against a whole UniDesk on this machine, made for that command alone: a
# throwaway PostgreSQL cluster, the kernel with the scheduler and gateway plugins (the web UI
# from web/dist), one real agent joined through the provider link, and a code and an env
# repository. The browser tests use it:
#   tools/e2e-stack.sh npm --prefix web run e2e
# The command sees, in its environment:
#   E2E_BASE_URL        the public listener (web UI and API), e.g. http://127.0.0.1:41234
#   E2E_USER, E2E_PASSWORD, E2E_TOKEN   the first administrator's sign-in and API token
#   E2E_NODE            the agent's node name
#   E2E_STOP_AGENT      a command that stops the agent (the node then goes offline in ~3 s)
#   E2E_CODE_REPO, E2E_CODE_COMMIT, E2E_ENV_REPO, E2E_ENV_COMMIT   repositories at commits;
#                       the code has ok.sh (prints and exits 0) and slow.sh (runs 5 minutes)
# Needs the build (tools/build.sh), dockerd (tools/dockerd.sh) and web/dist. Everything it
# starts is stopped when the command ends; the command's exit code is this script's.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$#" -gt 0 ] || { echo "usage: tools/e2e-stack.sh COMMAND [ARGS...]" >&2; exit 2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run=$(mktemp -d /tmp/unidesk-e2e-XXXXXX)
chmod o+x "$run"
pg_port=$(free_port)
api_port=$(free_port)
provider_port=$(free_port)
web_port=$(free_port)
node="e2e-$$"
base_image=unidesk-test/busybox:1

cleanup() {
    [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    [ -n "${kernel_pid:-}" ] && kill "$kernel_pid" 2>/dev/null && wait "$kernel_pid" 2>/dev/null
    docker rm -f $(docker ps -aq --filter "label=unidesk.node=$node") >/dev/null 2>&1 || true
    "$top/tools/pg-cluster.sh" stop "$run/pg" >/dev/null 2>&1 || true
    rm -rf "$run"
}
trap cleanup EXIT

url=$("$top/tools/pg-cluster.sh" start "$run/pg" "$pg_port" fast)

# The base image the env repository builds on, made from busybox-static (nothing is pulled).
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
    root="$run/rootfs"
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/"
    for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$base_image" >/dev/null
fi

commit() {
    git -C "$1" add -A
    git -C "$1" -c user.name=e2e -c user.email=e2e@example.org commit -qm "$2"
    git -C "$1" rev-parse HEAD
}
git init -qb main "$run/code"
printf '#!/bin/sh\necho "hello from the code"\necho "second line"\n' >"$run/code/ok.sh"
printf '#!/bin/sh\necho "started"\nsleep 300\n' >"$run/code/slow.sh"
chmod +x "$run/code/"*.sh
code_commit=$(commit "$run/code" "code")
git init -qb main "$run/env"
printf 'FROM %s\nRUN echo env > /env.txt\n' "$base_image" >"$run/env/Dockerfile"
env_commit=$(commit "$run/env" "env")

cat >"$run/kernel.toml" <<TOML
[listeners]
internal = "127.0.0.1:$api_port"
provider = "127.0.0.1:$provider_port"
public = "127.0.0.1:$web_port"
[database]
url = "$url"
[auth]
initial_credentials_file = "credentials"
[provider]
heartbeat_interval_s = 1
offline_after_s = 3
flush_interval_ms = 200
[plugins]
dir = "$top/build/plugins"
enabled = ["scheduler", "gateway"]
[plugin.scheduler]
dispatch_interval_ms = 100
[plugin.gateway]
web_dir = "$top/web/dist"
live_poll_ms = 100
TOML
"$top/build/bin/unidesk-kernel" --config "$run/kernel.toml" >"$run/kernel.log" 2>&1 &
kernel_pid=$!
for _ in $(seq 1 300); do
    [ -f "$run/credentials" ] && break
    kill -0 "$kernel_pid" 2>/dev/null || { cat "$run/kernel.log" >&2; exit 1; }
    sleep 0.1
done
[ -f "$run/credentials" ] || { echo "e2e-stack: the kernel wrote no credentials" >&2; exit 1; }
token=$(sed -n 's/^token=//p' "$run/credentials")

node_token=$(curl -sf -H "Authorization: Bearer $token" -d "{\"node_name\": \"$node\"}" \
    "http://127.0.0.1:$api_port/v1/node-tokens" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
cat >"$run/agent.toml" <<TOML
server = "ws://127.0.0.1:$provider_port"
token = "$node_token"
name = "$node"
work_dir = "$run/agent-work"
[reconnect]
base_s = 0.2
cap_s = 1
[git]
allow_local_remotes = true
TOML
"$top/build/bin/unidesk-agent" --config "$run/agent.toml" >"$run/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 200); do
    curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/v1/nodes/$node" |
        grep -q '"state":"online"' && break
    sleep 0.1
done

export E2E_BASE_URL="http://127.0.0.1:$web_port"
export E2E_USER=$(sed -n 's/^user=//p' "$run/credentials")
export E2E_PASSWORD=$(sed -n 's/^password=//p' "$run/credentials")
export E2E_TOKEN="$token"
export E2E_NODE="$node"
export E2E_STOP_AGENT="kill $agent_pid"
export E2E_CODE_REPO="file://$run/code" E2E_CODE_COMMIT="$code_commit"
export E2E_ENV_REPO="file://$run/env" E2E_ENV_COMMIT="$env_commit"

status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- kernel log (last 40 lines) ---" >&2
    tail -40 "$run/kernel.log" >&2
    echo "--- agent log (last 20 lines) ---" >&2
    tail -20 "$run/agent.log" >&2
fi
exit "$status"
