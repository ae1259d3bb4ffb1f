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

. "$top/tests/bench/bench-cluster.sh"
start_bench_cluster dispatch-bench

timeout 900 python3 "$top/tests/bench/dispatch_bench.py" --bin "$top/build/bin" \
    --plugins "$top/build/plugins" --pg-url "$url" --pg-dir "$run_dir/pg" --work "$run_dir" \
    --results "$top/build/dispatch-bench.json" "$@"
