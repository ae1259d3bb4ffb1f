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
