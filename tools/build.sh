#!/usr/bin/env bash
# Configures and builds UniDesk into build/ (Ninja, ccache, mold). Warnings are errors: the
# supported platform is fixed (Debian 12's compilers and libraries), so a warning is a bug.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# ccache keys on paths relative to the checkout, so a fresh clone in another folder (CI) reuses
# what an earlier build on this machine compiled.
export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1
cmake -S "$top" -B "$top/build" -G Ninja -DUNIDESK_WERROR=ON >/dev/null
ninja -C "$top/build" "$@"
