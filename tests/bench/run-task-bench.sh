#!/usr/bin/env bash
# The task start benchmark (docs/benchmarks.md) in one command: builds the agent and the bench
# program, makes sure the Docker engine runs, and measures a warm node's task start against a
# plain Engine API create+start of the same image. About a minute.
#   tests/bench/run-task-bench.sh [--runs N]
# Results: printed, and written to build/task-bench.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

./tools/build.sh unidesk-agent unidesk-task-bench
./tools/dockerd.sh
build/bin/unidesk-task-bench --agent build/bin/unidesk-agent --results build/task-bench.json "$@"
