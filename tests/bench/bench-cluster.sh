# Sourced by the run-*-bench.sh scripts: a scratch folder and a throwaway PostgreSQL cluster for
# one benchmark run, and a trap that ends what the run started (the pids its driver wrote to
# $run_dir/pids), stops the cluster and removes the folder. A failed run's logs stay in
# build/NAME-logs/.
#   start_bench_cluster NAME    sets run_dir and url
start_bench_cluster() {
    bench_name=$1
    run_dir=$(mktemp -d "/tmp/unidesk-$bench_name-XXXXXX")
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    trap stop_bench_cluster EXIT
    url=$("$top/tools/pg-cluster.sh" start "$run_dir/pg" "$port" fast)
}

stop_bench_cluster() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        local logs="$top/build/$bench_name-logs"
        rm -rf "$logs" && mkdir -p "$logs"
        cp "$run_dir"/*.out "$run_dir"/*.err "$run_dir"/*.json "$logs/" 2>/dev/null || true
    fi
    # Whatever the driver could not end itself (it was killed): only the pids it started.
    if [ -f "$run_dir/pids" ]; then
        while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$run_dir/pids"
    fi
    "$top/tools/pg-cluster.sh" stop "$run_dir/pg" || true
    rm -rf "$run_dir"
}
