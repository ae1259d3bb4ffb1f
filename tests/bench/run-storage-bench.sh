#!/usr/bin/env bash
# The storage benchmark (docs/benchmarks.md, Storage) in one command: builds the kernel and
# storage-local, starts a throwaway PostgreSQL, the kernel with storage-local, and nginx serving
# (and, with its DAV module, accepting PUT of) the same 1 GiB file on the same machine, then
# times uploads and downloads of both with curl and counts each server's CPU seconds.
# About two minutes.
#   tests/bench/run-storage-bench.sh [--runs N]
# Results: printed as a table, and written to build/storage-bench.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

./tools/build.sh unidesk-kernel unidesk_plugin_storage-local
command -v nginx >/dev/null || { echo "nginx is needed: tools/install-deps.sh" >&2; exit 1; }
. "$top/tests/bench/bench-cluster.sh"
start_bench_cluster storage-bench
python3 "$top/tests/bench/storage_bench.py" --top "$top" --run-dir "$run_dir" --db "$url" \
    --results "$top/build/storage-bench.json" "$@"
