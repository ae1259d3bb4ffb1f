#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine needs to build, run and test UniDesk.
# Idempotent: packages already present are skipped; safe to run again.
set -euo pipefail

packages=(
    # build
    cmake ninja-build ccache mold pkg-config g++ clang-format
    # fuzzing the protocol decoder (tests/fuzz/run.sh)
    clang-14 libclang-rt-14-dev
    # libraries
    libboost1.81-dev libboost-filesystem1.81-dev libboost-json1.81-dev
    libboost-system1.81-dev libboost-program-options1.81-dev
    libpqxx-dev libpq-dev nlohmann-json3-dev libgit2-dev libspdlog-dev libfmt-dev
    libssl-dev libsodium-dev catch2 libtomlplusplus-dev libcurl4-openssl-dev libarchive-dev
    # services the platform and its tests run
    postgresql postgresql-client git curl python3 openssl
    # the Docker engine that nodes run tasks with, and a static busybox for test images
    docker.io busybox-static
    # a database host that vanishes from the network, in the kernel's tests
    iptables
    # the browser that the web UI's end-to-end tests drive
    chromium
    # a Ceph RADOS Gateway for storage-s3's tests (tools/ceph-rgw.sh); nginx, the storage
    # benchmark's peer
    ceph-mon ceph-osd radosgw ceph-common nginx
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "install-deps: every package is present"
fi

# The web UI: Node.js 20.19 or later with npm (the machine's own; Debian 12's nodejs is too
# old), then the packages pinned in web/package-lock.json, installed again only when it changes.
top=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install-deps: Node.js 20.19+ and npm are needed for the web UI (web/README.md)" >&2
    exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "install-deps: Node.js $(node --version) is too old for the web UI: 20.19 or later is needed" >&2
    exit 1
fi
lock_sum=$(sha256sum "$top/web/package-lock.json" | cut -d' ' -f1)
stamp="$top/web/node_modules/.unidesk-lock-sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    echo "install-deps: installing the web UI's npm packages"
    (cd "$top/web" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$stamp"
else
    echo "install-deps: the web UI's npm packages are present"
fi
