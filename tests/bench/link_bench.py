#!/usr/bin/env python3
"""The provider-link benchmarks of docs/benchmarks.md; run-link-bench.sh starts this.

Idle connections: N simulated agents (unidesk-link-load) hold WebSocket sessions with
heartbeats, first against the real unidesk-kernel, then against unidesk-echo-server, a minimal
Beast echo server; for each server the resident memory it gained per connection and the CPU time
it spent per 1,000 heartbeats, read from /proc.

Reconnect storm: S agents registered with the kernel in --reconnect mode; the kernel is killed,
stays down for a while, and starts again. The peak of successful re-registrations per second is
measured once with full jitter and once without jitter.

Everything runs on loopback, each step has a deadline, and every process started here is ended
here (by its pid) when the run ends or fails.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout_s, interval_s=0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise BenchError(f"timed out after {timeout_s} s waiting for {what}")


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid, with_children=False):
    # The fields after the command name, which may hold spaces: see proc(5).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def children_of(pid):
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def postgres_cpu_seconds(pg_dir):
    """CPU time of the whole cluster: the postmaster, its live backends, and the ones gone."""
    postmaster = int((Path(pg_dir) / "data" / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster, with_children=True)
    for child in children_of(postmaster):
        try:
            total += cpu_seconds(child)
        except OSError:
            pass
    return total


class Processes:
    """Every process this run starts, so that each is ended by its pid whatever happens."""

    def __init__(self, work, pid_file):
        self.work = Path(work)
        self.pid_file = Path(pid_file)
        self.live = []

    def start(self, name, args):
        out = open(self.work / f"{name}.out", "ab")
        err = open(self.work / f"{name}.err", "ab")
        p = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        self.live.append(p)
        self._write_pids()
        return p

    def end(self, p, sig=signal.SIGTERM, timeout_s=30):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        self._write_pids()
        return p.returncode

    def end_all(self):
        for p in list(self.live):
            self.end(p, signal.SIGKILL, 5)

    def _write_pids(self):
        self.pid_file.write_text("".join(f"{p.pid}\n" for p in self.live))


class Kernel:
    def __init__(self, procs, bin_dir, work, pg_url, heartbeat_s, offline_s, extra_config=""):
        self.procs = procs
        self.bin = Path(bin_dir) / "unidesk-kernel"
        self.work = Path(work)
        self.internal_port = free_port()
        self.provider_port = free_port()
        self.proc = None
        self.config = self.work / "kernel.toml"
        self.config.write_text(
            "[listeners]\n"
            f'internal = "127.0.0.1:{self.internal_port}"\n'
            f'provider = "127.0.0.1:{self.provider_port}"\n'
            f'[database]\nurl = "{pg_url}"\n'
            '[auth]\ninitial_credentials_file = "credentials"\n'
            f"[provider]\nheartbeat_interval_s = {heartbeat_s}\noffline_after_s = {offline_s}\n"
            + extra_config
        )

    def start(self):
        self.proc = self.procs.start("kernel", [str(self.bin), "--config", str(self.config)])

    def wait_healthy(self, timeout_s=30):
        def healthy():
            try:
                status, body = self.request("GET", "/health")
                return status == 200 and json.loads(body).get("status") == "ok"
            except (OSError, ValueError, http.client.HTTPException):
                return False

        wait_for("the kernel's /health to say ok", healthy, timeout_s)

    def admin_token(self):
        creds = self.work / "credentials"

        def token():
            if creds.exists():
                for line in creds.read_text().splitlines():
                    if line.startswith("token="):
                        return line[len("token="):]
            return None

        return wait_for("the credentials file", token, 20)

    def request(self, method, target, body=None, token=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.internal_port, timeout=15)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, target, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if own:
            conn.close()
        return r.status, data

    def issue_tokens(self, count, path):
        admin = self.admin_token()
        conn = http.client.HTTPConnection("127.0.0.1", self.internal_port, timeout=15)
        with open(path, "w") as out:
            for i in range(1, count + 1):
                name = f"bench-{i:05d}"
                status, body = self.request(
                    "POST", "/v1/node-tokens", json.dumps({"node_name": name}), admin, conn
                )
                if status != 201:
                    raise BenchError(f"issuing a node token answered {status}: {body[:200]}")
                out.write(f"{name} {json.loads(body)['secret']}\n")
        conn.close()

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None:
            self.procs.end(self.proc, sig)
            self.proc = None


class LoadRun:
    """One unidesk-link-load process and its status and report files."""

    def __init__(self, procs, bin_dir, work, name, args):
        self.procs = procs
        self.status_file = Path(work) / f"{name}.status.json"
        self.report_file = Path(work) / f"{name}.report.json"
        for f in (self.status_file, self.report_file):
            f.unlink(missing_ok=True)
        self.proc = procs.start(
            name,
            [str(Path(bin_dir) / "unidesk-link-load")]
            + args
            + ["--status", str(self.status_file), "--report", str(self.report_file)],
        )

    def status(self):
        return read_json(self.status_file)

    def next_status(self, timeout_s=5):
        """The first status written after this call: counters of one known moment."""
        before = self.status().get("elapsed_s")
        return wait_for(
            "a fresh status from the load client",
            lambda: (s := self.status()).get("elapsed_s") not in (None, before) and s,
            timeout_s,
            0.01,
        )

    def wait_online(self, count, timeout_s, also=lambda s: True):
        def ready():
            s = self.status()
            if self.proc.poll() is not None:
                raise BenchError(f"the load client ended early: {s}")
            return s.get("online") == count and also(s) and s

        return wait_for(f"{count} agents online", ready, timeout_s)

    def finish(self, timeout_s=60):
        code = self.procs.end(self.proc, signal.SIGTERM, timeout_s)
        if code != 0:
            raise BenchError(f"the load client exited with {code}")
        return read_json(self.report_file)


def measure_idle(procs, args, server_pid, server_url, name, extra_load_args, pg_dir=None):
    """Memory per connection and CPU per 1,000 heartbeats of one server holding N sessions."""
    time.sleep(2)
    rss_before = rss_bytes(server_pid)
    load = LoadRun(
        procs,
        args.bin,
        args.work,
        name,
        ["--server", server_url, "--tokens", str(args.tokens), "--agents", str(args.connections),
         "--duration", "600", "--connect-rate", str(args.connect_rate)] + extra_load_args,
    )
    started = time.monotonic()
    load.wait_online(args.connections, 180)
    ramp_s = time.monotonic() - started
    time.sleep(2 * args.heartbeat)

    first = load.next_status()
    cpu_first = cpu_seconds(server_pid)
    client_first = cpu_seconds(load.proc.pid)
    pg_first = postgres_cpu_seconds(pg_dir) if pg_dir else None
    time.sleep(args.window)
    last = load.next_status()
    cpu_last = cpu_seconds(server_pid)
    client_last = cpu_seconds(load.proc.pid)
    pg_last = postgres_cpu_seconds(pg_dir) if pg_dir else None
    rss_after = rss_bytes(server_pid)
    online_at_end = last["online"]
    report = load.finish()

    beats = last["heartbeats"] - first["heartbeats"]
    result = {
        "connections": args.connections,
        "online_at_end": online_at_end,
        "ramp_s": round(ramp_s, 1),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "bytes_per_connection": round((rss_after - rss_before) / args.connections),
        "window_s": round(last["elapsed_s"] - first["elapsed_s"], 1),
        "heartbeats_in_window": beats,
        "cpu_ms_per_1000_heartbeats": round(1e6 * (cpu_last - cpu_first) / beats, 1),
        "client_cpu_ms_per_1000_heartbeats": round(1e6 * (client_last - client_first) / beats, 1),
        "failures": report.get("failures"),
        "failure_kinds": report.get("failure_kinds"),
    }
    if pg_dir:
        result["postgres_cpu_ms_per_1000_heartbeats"] = round(1e6 * (pg_last - pg_first) / beats, 1)
    return result


def idle_bench(procs, args):
    kernel = Kernel(procs, args.bin, args.work, args.pg_url, args.heartbeat, 60)
    kernel.start()
    kernel.wait_healthy()
    started = time.monotonic()
    kernel.issue_tokens(max(args.connections, args.storm), args.tokens)
    print(f"issued {max(args.connections, args.storm)} node tokens in "
          f"{time.monotonic() - started:.1f} s", flush=True)

    url = f"ws://127.0.0.1:{kernel.provider_port}"
    result = {"kernel": measure_idle(procs, args, kernel.proc.pid, url, "load-kernel", [],
                                     args.pg_dir)}
    kernel.stop()
    print(f"kernel: {json.dumps(result['kernel'])}", flush=True)

    echo_port = free_port()
    echo = procs.start("echo", [str(Path(args.bin) / "unidesk-echo-server"),
                                "--port", str(echo_port), "--max-seconds", "900"])
    wait_for("the echo server to listen",
             lambda: "listening" in (Path(args.work) / "echo.out").read_text(), 10)
    result["echo"] = measure_idle(procs, args, echo.pid, f"ws://127.0.0.1:{echo_port}",
                                  "load-echo", ["--peer", "echo", "--heartbeat",
                                                str(args.heartbeat)])
    procs.end(echo)
    print(f"echo: {json.dumps(result['echo'])}", flush=True)

    k, e = result["kernel"], result["echo"]
    result["memory_ratio"] = round(k["bytes_per_connection"] / e["bytes_per_connection"], 2)
    result["cpu_ratio"] = round(
        k["cpu_ms_per_1000_heartbeats"] / e["cpu_ms_per_1000_heartbeats"], 2
    )
    return result


def storm_run(procs, args, jitter):
    """S agents registered, the kernel killed and started again; the re-registration peak."""
    kernel = Kernel(procs, args.bin, args.work, args.pg_url, args.heartbeat, 90)
    kernel.start()
    kernel.wait_healthy()
    load = LoadRun(
        procs,
        args.bin,
        args.work,
        f"storm-{jitter}",
        ["--server", f"ws://127.0.0.1:{kernel.provider_port}", "--tokens", str(args.tokens),
         "--agents", str(args.storm), "--duration", "600", "--connect-rate",
         str(args.connect_rate), "--reconnect", "--jitter", jitter],
    )
    load.wait_online(args.storm, 180)
    time.sleep(3)

    killed = time.monotonic()
    kernel.stop(signal.SIGKILL)
    wait_for("every session to notice the kernel is gone",
             lambda: load.status().get("online") == 0, 30)
    time.sleep(max(0.0, args.down - (time.monotonic() - killed)))
    kernel.start()
    restarted = time.monotonic()
    restarted_unix = time.time()
    load.wait_online(args.storm, 240,
                     lambda s: s.get("registrations", 0) >= 2 * args.storm)
    recovered_s = time.monotonic() - restarted
    report = load.finish()
    kernel.stop()

    counts = report["reconnected_per_second"]["counts"]
    busy = [c for c in counts if c > 0]
    # Connections opened per second from the restart on: how hard the fleet hits the server,
    # whether or not the server can take them all (refused and timed-out ones count too).
    first = int((restarted_unix * 1000 - report["started_unix_ms"]) // 1000)
    arrivals = report["attempts_per_second"]["counts"][max(0, first):]
    return {
        "jitter": jitter,
        "agents": args.storm,
        "down_s": args.down,
        "peak_attempts_per_second": max(arrivals, default=0),
        "peak_per_second": report["reconnected_per_second"]["peak"],
        "seconds_with_reconnections": len(busy),
        "recovered_s": round(recovered_s, 1),
        "reconnections": report["reconnections"],
        "attempts": report["attempts"],
        "failure_kinds": report["failure_kinds"],
        "close_codes": report["close_codes"],
        "reconnected_per_second": counts,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True, help="folder holding the built programs")
    p.add_argument("--pg-url", required=True)
    p.add_argument("--pg-dir", required=True, help="the cluster's folder (CPU of postgres)")
    p.add_argument("--work", required=True, help="scratch folder for configs, logs, reports")
    p.add_argument("--results", required=True, help="write all results here as JSON")
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--storm", type=int, default=5000)
    p.add_argument("--heartbeat", type=int, default=5)
    p.add_argument("--window", type=int, default=30, help="seconds of CPU measurement")
    p.add_argument("--down", type=float, default=10, help="seconds the kernel stays down")
    p.add_argument("--connect-rate", type=int, default=1000)
    p.add_argument("--only", choices=["idle", "storm"], help="run one of the two benchmarks")
    args = p.parse_args()
    args.tokens = Path(args.work) / "tokens.txt"

    procs = Processes(args.work, Path(args.work) / "pids")
    # A SIGTERM (from `timeout`, say) must still end what this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    results = {}
    try:
        if args.only != "storm":
            results["idle"] = idle_bench(procs, args)
        else:
            kernel = Kernel(procs, args.bin, args.work, args.pg_url, args.heartbeat, 90)
            kernel.start()
            kernel.wait_healthy()
            kernel.issue_tokens(args.storm, args.tokens)
            kernel.stop()
        if args.only != "idle":
            results["storm"] = [storm_run(procs, args, "full"), storm_run(procs, args, "none")]
            full, none = results["storm"]
            results["storm_peak_ratio"] = round(none["peak_per_second"] /
                                                max(1, full["peak_per_second"]), 2)
            results["storm_attempt_peak_ratio"] = round(
                none["peak_attempts_per_second"] / max(1, full["peak_attempts_per_second"]), 2)
    finally:
        procs.end_all()
        Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"link-bench: {e}", file=sys.stderr)
        sys.exit(1)
