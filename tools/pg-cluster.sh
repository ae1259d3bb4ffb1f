#!/usr/bin/env bash
# A PostgreSQL 15 cluster in a folder of its own, used by start.sh (persistent data) and by
# test.sh (throwaway). initdb and pg_ctl refuse root, so as root they run as `postgres`.
#   pg-cluster.sh start DIR PORT [fast]   initdb if needed, then start; prints the URL
#   pg-cluster.sh stop DIR
#   pg-cluster.sh status DIR
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
cmd=${1:?usage: pg-cluster.sh start|stop|status DIR [PORT] [fast]}
dir=$(realpath -m "${2:?missing DIR}")

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    port=${3:?missing PORT}
    mode=${4:-durable}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    # The postgres user must be able to reach the folder when it sits under /root.
    [ "$(id -u)" -eq 0 ] && chmod o+x "$(dirname "$dir")" 2>/dev/null || true
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
            $([ "$mode" = fast ] && echo --no-sync) >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    opts="-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir"
    opts="$opts -c max_connections=300"
    if [ "$mode" = fast ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -o "$opts" start >/dev/null ||
            { tail -20 "$dir/postgres.log" >&2; exit 1; }
    fi
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
status)
    as_pg "$bin/pg_ctl" -D "$dir/data" status
    ;;
*)
    echo "usage: pg-cluster.sh start|stop|status DIR [PORT] [fast]" >&2
    exit 2
    ;;
esac
