#!/usr/bin/env bash
# The dispatch benchmark (docs/benchmarks.md) in one command: builds the kernel, the scheduler
# plugin and the load program, starts a throwaway PostgreSQL cluster, runs
# tests/bench/dispatch_bench.py (a burst of tasks for throughput, a steady rate for latency,
# pgbench for the database's own commit rate) against simulated agents that finish every task
# at once, and removes everything it started. Loopback only; about two minutes on 2 cores.
#   tests/bench/run-dispatch-bench.sh [--agents N] [--burst N] [--rate R] [--steady-s S] ...
# Results: printed, and written to build/dispatch-bench.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

./tools/build.sh -j2 unidesk-kernel unidesk_plugin_scheduler unidesk-link-load

run_dir=$(mktemp -d /tmp/unidesk-dispatch-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    status=$?
    # Logs of a failed run stay for a look: build/dispatch-bench-logs/.
    if [ "$status" -ne 0 ]; then
        rm -rf "$top/build/dispatch-bench-logs" && mkdir -p "$top/build/dispatch-bench-logs"
        cp "$run_dir"/*.out "$run_dir"/*.err "$run_dir"/*.json "$top/build/dispatch-bench-logs/" \
            2>/dev/null || true
    fi
    # Whatever dispatch_bench.py could not end itself (it was killed): only the pids it started.
    if [ -f "$run_dir/pids" ]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$run_dir/pids"
    fi
    "$top/tools/pg-cluster.sh" stop "$run_dir/pg" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
url=$("$top/tools/pg-cluster.sh" start "$run_dir/pg" "$port" fast)

timeout 900 python3 "$top/tests/bench/dispatch_bench.py" --bin "$top/build/bin" \
    --plugins "$top/build/plugins" --pg-url "$url" --pg-dir "$run_dir/pg" --work "$run_dir" \
    --results "$top/build/dispatch-bench.json" "$@"
