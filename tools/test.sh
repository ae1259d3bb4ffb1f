#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, checks the
# formatting, starts a throwaway PostgreSQL cluster for the run, and runs CTest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

./tools/install-deps.sh
./tools/build.sh
./tools/check-format.sh

run_dir=$(mktemp -d /tmp/unidesk-test-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "$top/tools/pg-cluster.sh" stop "$run_dir/pg" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
export UNIDESK_TEST_PG_URL=$(./tools/pg-cluster.sh start "$run_dir/pg" "$port" fast)
echo "test database cluster: $UNIDESK_TEST_PG_URL"

cd build
ctest --output-on-failure --timeout 300 -j2 "$@"
