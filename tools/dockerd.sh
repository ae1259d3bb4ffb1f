#!/usr/bin/env bash
# Makes sure the machine's one Docker engine runs: when /var/run/docker.sock does not answer,
# starts dockerd in the background (log in /var/log/unidesk-dockerd.log) and waits for it.
# Never starts a second daemon beside a running one: a second daemon removes the docker0
# bridge when it stops, and every later container then fails.
set -euo pipefail
socket=/var/run/docker.sock

ping() { curl -sf --max-time 2 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1; }

if ping; then
    exit 0
fi
if pgrep -x dockerd >/dev/null; then
    echo "dockerd: a daemon runs but $socket does not answer yet; waiting"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "dockerd: not running, and starting it needs root" >&2
        exit 1
    fi
    echo "dockerd: starting"
    nohup dockerd >/var/log/unidesk-dockerd.log 2>&1 &
fi
for _ in $(seq 1 300); do
    if ping; then
        exit 0
    fi
    sleep 0.1
done
echo "dockerd: no answer on $socket after 30 s; see /var/log/unidesk-dockerd.log" >&2
exit 1
