#!/usr/bin/env bash
# Configures and builds UniDesk into build/ (Ninja, ccache, mold). Warnings are errors when
# CI=true or UNIDESK_WERROR=ON.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
werror=${UNIDESK_WERROR:-$([ "${CI:-}" = true ] && echo ON || echo OFF)}
cmake -S "$top" -B "$top/build" -G Ninja -DUNIDESK_WERROR="$werror" >/dev/null
ninja -C "$top/build" "$@"
