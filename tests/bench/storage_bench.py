"""Driver of run-storage-bench.sh: storage-local's signed URLs against nginx, same file, same
machine, same run. Each server's CPU time is read from /proc before and after each transfer
(all its threads or worker processes); curl, the client, is the same for both and not counted.
Every process it starts is written to RUN_DIR/pids and ended before it returns."""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

SIZE = 1 << 30
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / TICKS


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_for(check, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"storage-bench: {what} did not come up")


def curl(args):
    out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}",
                          *args], capture_output=True, text=True, check=True)
    return float(out.stdout)


def measure(pids_of, args):
    # Each transfer starts with no dirty pages waiting to be written back, so neither server
    # pays for the other's writes (the sync itself is not timed).
    os.sync()
    pids = pids_of()
    before = cpu_seconds(pids)
    seconds = curl(args)
    return seconds, cpu_seconds(pids) - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    run = a.run_dir
    pids_file = open(os.path.join(run, "pids"), "a")

    data = os.path.join(run, "object.bin")
    with open(data, "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(os.urandom(1 << 20))

    # The kernel with storage-local; writes are not synced, as nginx does not sync them either.
    internal, public = free_port(), free_port()
    config = os.path.join(run, "kernel.toml")
    with open(config, "w") as f:
        f.write(f"""[listeners]
internal = "127.0.0.1:{internal}"
public = "127.0.0.1:{public}"
[database]
url = "{a.db}"
[auth]
initial_credentials_file = "credentials"
[storage]
backend = "local"
[plugins]
dir = "{a.top}/build/plugins"
enabled = ["storage-local"]
[plugin.storage-local]
data_dir = "{run}/objects"
secret = "{os.urandom(24).hex()}"
public_url = "http://127.0.0.1:{public}"
sync_writes = false
""")
    kernel = subprocess.Popen([f"{a.top}/build/bin/unidesk-kernel", "--config", config,
                               "--log-level", "warn"],
                              stdout=open(os.path.join(run, "kernel.out"), "w"),
                              stderr=open(os.path.join(run, "kernel.err"), "w"))
    pids_file.write(f"{kernel.pid}\n")
    pids_file.flush()

    def storage_ok():
        with urllib.request.urlopen(f"http://127.0.0.1:{internal}/health") as r:
            return json.load(r)["components"]["storage"]["status"] == "ok"
    wait_for(storage_ok, 30, "the kernel")
    wait_for(lambda: os.path.exists(os.path.join(run, "credentials")), 30, "the first admin")
    token = None
    for line in open(os.path.join(run, "credentials")):
        if line.startswith("token="):
            token = line.strip().split("=", 1)[1]

    def presign(what, key):
        req = urllib.request.Request(
            f"http://127.0.0.1:{internal}/v1/storage/{what}", method="POST",
            data=json.dumps({"key": key, "lifetime_s": 3600}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)["url"]

    # nginx: the same file from its own folder, PUT through the DAV module.
    nginx_port = free_port()
    root = os.path.join(run, "nginx-root")
    os.makedirs(root)
    os.makedirs(os.path.join(run, "nginx-tmp"))
    nginx_conf = os.path.join(run, "nginx.conf")
    with open(nginx_conf, "w") as f:
        f.write(f"""daemon off;
worker_processes auto;
user root;
pid {run}/nginx.pid;
error_log {run}/nginx.err;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_max_body_size 0;
    client_body_temp_path {run}/nginx-tmp;
    server {{
        listen 127.0.0.1:{nginx_port};
        root {root};
        location / {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", nginx_conf, "-p", run],
                             stdout=open(os.path.join(run, "nginx.out"), "w"),
                             stderr=subprocess.STDOUT)
    pids_file.write(f"{nginx.pid}\n")
    pids_file.flush()

    def nginx_up():
        socket.create_connection(("127.0.0.1", nginx_port), timeout=1).close()
        return True
    wait_for(nginx_up, 10, "nginx")

    def nginx_pids():
        return [nginx.pid] + children(nginx.pid)

    def kernel_pids():
        return [kernel.pid]

    samples = {k: [] for k in ("local_up", "nginx_up", "local_down", "nginx_down")}
    try:
        for i in range(a.runs):
            key = f"bench/object-{i}.bin"
            samples["local_up"].append(measure(kernel_pids, ["-T", data, presign("upload-url", key)]))
            samples["nginx_up"].append(measure(nginx_pids, ["-T", data,
                                                            f"http://127.0.0.1:{nginx_port}/{i}.bin"]))
            samples["local_down"].append(measure(kernel_pids, [presign("download-url", key)]))
            samples["nginx_down"].append(measure(nginx_pids,
                                                 [f"http://127.0.0.1:{nginx_port}/{i}.bin"]))
            print(f"run {i + 1}/{a.runs} done", file=sys.stderr)
    finally:
        kernel.terminate()
        nginx.terminate()
        kernel.wait(20)
        nginx.wait(20)

    def summary(name):
        secs = statistics.median(s for s, _ in samples[name])
        cpu = statistics.median(c for _, c in samples[name])
        return {"seconds": secs, "mib_s": SIZE / secs / (1 << 20), "cpu_s_per_gib": cpu}

    results = {name: summary(name) for name in samples}
    results["download_ratio"] = results["local_down"]["mib_s"] / results["nginx_down"]["mib_s"]
    results["upload_ratio"] = results["local_up"]["mib_s"] / results["nginx_up"]["mib_s"]
    results["runs"] = a.runs
    with open(a.results, "w") as f:
        json.dump(results, f, indent=2)

    print("| 1 GiB over loopback (median of %d) | storage-local | nginx | ratio | aim |" % a.runs)
    print("|---|---|---|---|---|")
    for direction, aim in (("down", "at least 0.9x"), ("up", "at least 0.8x")):
        local, peer = results[f"local_{direction}"], results[f"nginx_{direction}"]
        ratio = results["download_ratio" if direction == "down" else "upload_ratio"]
        label = "download" if direction == "down" else "upload"
        print(f"| {label} throughput | {local['mib_s']:.0f} MiB/s | {peer['mib_s']:.0f} MiB/s "
              f"| **{ratio:.2f}x** | {aim} |")
        print(f"| {label} CPU seconds per GiB (server) | {local['cpu_s_per_gib']:.2f} | "
              f"{peer['cpu_s_per_gib']:.2f} | | |")


if __name__ == "__main__":
    main()
