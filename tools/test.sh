#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, checks the
# formatting, starts a throwaway PostgreSQL cluster for the run, and runs CTest; then lints,
# unit-tests and builds the web UI and runs it in Chromium. Arguments go to CTest and skip the
# fuzzing and the web UI.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

./tools/install-deps.sh
./tools/build.sh
./tools/check-format.sh
./tools/dockerd.sh

run_dir=$(mktemp -d /tmp/unidesk-test-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "$top/tools/pg-cluster.sh" stop "$run_dir/pg" || true
    "$top/tools/ceph-rgw.sh" stop "$run_dir/rgw" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
export UNIDESK_TEST_PG_URL=$(./tools/pg-cluster.sh start "$run_dir/pg" "$port" fast)
echo "test database cluster: $UNIDESK_TEST_PG_URL"

# An S3-compatible store for storage-s3's tests: a RADOS Gateway in memory (about 15 s).
rgw_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rgw=$(./tools/ceph-rgw.sh start "$run_dir/rgw" "$rgw_port")
export UNIDESK_TEST_S3_ENDPOINT=$(sed -n 's/^endpoint=//p' <<<"$rgw")
export UNIDESK_TEST_S3_ACCESS_KEY=$(sed -n 's/^access_key=//p' <<<"$rgw")
export UNIDESK_TEST_S3_SECRET_KEY=$(sed -n 's/^secret_key=//p' <<<"$rgw")
export UNIDESK_TEST_S3_BUCKET=$(sed -n 's/^bucket=//p' <<<"$rgw")
echo "test S3 store: $UNIDESK_TEST_S3_ENDPOINT bucket $UNIDESK_TEST_S3_BUCKET"

# The provider protocol decoder under libFuzzer with the address and undefined-behaviour
# sanitizers, briefly; a crash or a sanitizer report fails the run. Longer runs:
# tests/fuzz/run.sh SECONDS.
if [ "$#" -eq 0 ]; then
    echo "fuzzing the provider protocol decoder for ${UNIDESK_FUZZ_SECONDS:-20} s"
    tests/fuzz/run.sh "${UNIDESK_FUZZ_SECONDS:-20}" >"$run_dir/fuzz.log" 2>&1 ||
        { tail -50 "$run_dir/fuzz.log"; echo "fuzzing found a failure" >&2; exit 1; }
    grep -E '^Done [0-9]+ runs' "$run_dir/fuzz.log" || true
fi

(cd build && ctest --output-on-failure --timeout 300 -j2 "$@")

# The web UI: ESLint and Prettier (including the rule that keeps date formatting in
# src/time.ts), the Vitest suite under three time zones, the production build, and the
# end-to-end run in Chromium against a throwaway whole UniDesk (its screenshots are kept with
# this run's files only).
if [ "$#" -eq 0 ]; then
    (cd web && npm run --silent lint && npm test --silent && npm run --silent build)
    E2E_SCREENSHOTS="$run_dir/screenshots" ./tools/e2e-stack.sh npm --prefix web run --silent e2e
fi
