#!/usr/bin/env bash
# Builds the provider protocol decoder fuzzer with clang and runs it.
# usage: tests/fuzz/run.sh [SECONDS]   (default 60)
# Needs clang++ (or clang++-14) and libclang-rt-14-dev (tools/install-deps.sh installs them).
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/build-fuzz"
mkdir -p "$out/corpus"

cxx="$(command -v clang++ || command -v clang++-14 || true)"
if [ -z "$cxx" ]; then
    echo "fuzz: clang++ not found; run tools/install-deps.sh" >&2
    exit 1
fi

"$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$root/kernel/protocol/include" -I "$root/plugin-api/include" \
    "$root/kernel/protocol/src/messages.cpp" "$root/kernel/protocol/src/codec.cpp" \
    "$root/tests/fuzz/decode_fuzz.cpp" -o "$out/unidesk-protocol-fuzz"

# Seeds: one valid frame of each kind, so the fuzzer starts deep inside the decoder.
printf '%s' '{"type":"register","id":"a-1","v":1,"body":{"node_name":"n","agent_version":"0.1.0","os":"linux","arch":"x86_64","cpu_cores":4,"memory_bytes":1024,"disk_bytes":2048,"gpus":[{"index":0,"model":"m","memory_bytes":1,"driver":"d"}],"labels":{"a":"b"}}}' > "$out/corpus/register"
printf '%s' '{"type":"heartbeat","id":"a-2","v":1,"body":{"seq":3,"running":[{"attempt_id":"x","state":"running"}]}}' > "$out/corpus/heartbeat"
printf '%s' '{"type":"registered","id":"s-1","re":"a-1","v":1,"body":{"session_generation":7,"heartbeat_interval_s":15,"server_time":"2024-01-01T00:00:00Z"}}' > "$out/corpus/registered"
printf '%s' '{"type":"error","id":"s-2","v":1,"body":{"code":"c","message":"m"}}' > "$out/corpus/error"
printf '%s' '{"type":"leaving","id":"a-3","v":1,"body":{"reason":"shutdown"}}' > "$out/corpus/leaving"

"$out/unidesk-protocol-fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    "$out/corpus"
