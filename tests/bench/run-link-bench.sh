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

. "$top/tests/bench/bench-cluster.sh"
start_bench_cluster link-bench

timeout 900 python3 "$top/tests/bench/link_bench.py" --bin "$top/build/bin" --pg-url "$url" \
    --pg-dir "$run_dir/pg" --work "$run_dir" --results "$top/build/link-bench.json" "$@"
