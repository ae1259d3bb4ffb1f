#!/usr/bin/env bash
# The provider-link benchmarks (docs/benchmarks.md) in one command: builds the kernel and the
# load programs, starts a throwaway PostgreSQL cluster, runs tests/bench/link_bench.py (idle
# connections against the kernel and an echo server, then the reconnect storm with and without
# jitter), and removes everything it started. Loopback only; about five minutes on 2 cores.
#   tests/bench/run-link-bench.sh [--connections N] [--storm N] [--only idle|storm] ...
# Results: printed, and written to build/link-bench.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

./tools/build.sh unidesk-kernel unidesk-link-load unidesk-echo-server

# 10,000 connections with both ends on this machine: each program needs its hard limit.
ulimit -n "$(ulimit -Hn)"

run_dir=$(mktemp -d /tmp/unidesk-link-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    status=$?
    # Logs of a failed run stay for a look: build/link-bench-logs/.
    if [ "$status" -ne 0 ]; then
        rm -rf "$top/build/link-bench-logs" && mkdir -p "$top/build/link-bench-logs"
        cp "$run_dir"/*.out "$run_dir"/*.err "$run_dir"/*.json "$top/build/link-bench-logs/" \
            2>/dev/null || true
    fi
    # Whatever link_bench.py could not end itself (it was killed): only the pids it started.
    if [ -f "$run_dir/pids" ]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$run_dir/pids"
    fi
    "$top/tools/pg-cluster.sh" stop "$run_dir/pg" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
url=$("$top/tools/pg-cluster.sh" start "$run_dir/pg" "$port" fast)

timeout 900 python3 "$top/tests/bench/link_bench.py" --bin "$top/build/bin" --pg-url "$url" \
    --pg-dir "$run_dir/pg" --work "$run_dir" --results "$top/build/link-bench.json" "$@"
