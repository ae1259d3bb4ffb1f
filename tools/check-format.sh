#!/usr/bin/env bash
# Fails when a C++ source differs from what clang-format makes of it (.clang-format).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
files=$(git ls-files '*.cpp' '*.hpp' '*.h' | grep -v '^web/' || true)
[ -n "$files" ] || exit 0
bad=0
for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
exit $bad
