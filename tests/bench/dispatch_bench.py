#!/usr/bin/env python3
"""The dispatch benchmark of docs/benchmarks.md; run-dispatch-bench.sh starts this.

The real unidesk-kernel with the scheduler plugin, and simulated agents (unidesk-link-load
--run-tasks) whose execution takes no time: each answers a task.assign at once with accepted,
running and succeeded. So what is measured is the scheduler, the REST API, the provider link
and PostgreSQL, not Docker.

- drain: N tasks queued while no node is online, then the agents connect; tasks per second
  from the first assignment to the last task succeeded (scheduler_attempts, scheduler_tasks):
  the scheduler's own rate from queued to succeeded, with no submissions competing;
- burst: M tasks submitted as fast as a few keep-alive connections allow, with the agents
  online; tasks per second from the first task created to the last one succeeded (both times
  from scheduler_tasks), and the database commits it took per task;
- steady: tasks submitted at a fixed rate (100 a second for 20 s); p50 and p99 from the start
  of each submit call to the simulated node receiving its task.assign;
- pgbench against the same cluster, in the same run: single-row INSERT commits per second on
  one connection, the database's own rate that the tasks per second are set against.

Everything runs on loopback, each step has a deadline, and every process started here is ended
here (by its pid) when the run ends or fails.
"""

import argparse
import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from link_bench import (BenchError, Kernel, LoadRun, Processes, cpu_seconds,
                        postgres_cpu_seconds, wait_for)

# A task the simulated nodes never fetch: only its references travel.
TASK = {
    "code_repo_url": "file:///srv/dispatch-bench/code.git",
    "code_commit_id": "c0de" * 10,
    "env_repo_url": "file:///srv/dispatch-bench/env.git",
    "env_commit_id": "e0e0" * 10,
    "command": ["true"],
    "project": "dispatch-bench",
}


def psql(url, sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-d", url, "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise BenchError(f"psql failed: {out.stderr.strip()[:300]}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def percentile(values, p):
    """The nearest-rank percentile of a list."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


class Submitter:
    """POST /v1/tasks over keep-alive connections, one per thread; notes each call's start."""

    def __init__(self, kernel, token):
        self.kernel = kernel
        self.token = token
        self.lock = threading.Lock()
        self.started_us = {}  # task id (string) -> unix microseconds at the call's start
        self.call_ms = []
        self.late_ms = []  # how far behind its planned time a paced call started
        self.errors = []

    def _submit(self, conn):
        body = json.dumps(TASK)
        start_us = time.time_ns() // 1000
        t0 = time.monotonic()
        status, data = self.kernel.request("POST", "/v1/tasks", body, self.token, conn)
        took_ms = (time.monotonic() - t0) * 1000
        if status != 201:
            raise BenchError(f"POST /v1/tasks answered {status}: {data[:200]}")
        task_id = str(json.loads(data)["task"]["id"])
        with self.lock:
            self.started_us[task_id] = start_us
            self.call_ms.append(took_ms)
        return task_id

    def _thread(self, work):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.kernel.internal_port, timeout=30)
            work(conn)
            conn.close()
        except (BenchError, OSError, ValueError, http.client.HTTPException) as e:
            with self.lock:
                self.errors.append(str(e))

    def _run(self, threads, work):
        pool = [threading.Thread(target=self._thread, args=(work(i),)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if self.errors:
            raise BenchError(f"{len(self.errors)} submits failed, first: {self.errors[0]}")

    def burst(self, count, threads):
        def work(i):
            def submit_share(conn):
                for _ in range(i, count, threads):
                    self._submit(conn)
            return submit_share

        self._run(threads, work)

    def paced(self, rate, duration_s, threads):
        """Open loop: call k is planned at start + k / rate, whatever the earlier calls took."""
        count = int(rate * duration_s)
        begin = time.monotonic() + 0.2

        def work(i):
            def submit_share(conn):
                for k in range(i, count, threads):
                    planned = begin + k / rate
                    now = time.monotonic()
                    if planned > now:
                        time.sleep(planned - now)
                    with self.lock:
                        self.late_ms.append(max(0.0, time.monotonic() - planned) * 1000)
                    self._submit(conn)
            return submit_share

        self._run(threads, work)


def wait_ended(pg_url, ids, timeout_s):
    lo, hi = min(ids, key=int), max(ids, key=int)

    def ended():
        (done, ok), = psql(pg_url, "SELECT count(*) FILTER (WHERE state IN "
                                   "('succeeded', 'failed', 'cancelled', 'lost')), "
                                   "count(*) FILTER (WHERE state = 'succeeded') FROM "
                                   f"scheduler_tasks WHERE id BETWEEN {lo} AND {hi}")
        return int(done) >= len(ids) and (int(done), int(ok))

    # Each look starts psql and a database backend, CPU taken from what is measured; the times
    # come from the tables, so looking twice a second loses nothing.
    done, ok = wait_for(f"{len(ids)} tasks to end", ended, timeout_s, 0.5)
    if ok != len(ids):
        raise BenchError(f"{len(ids) - ok} of {len(ids)} tasks ended other than succeeded")


def task_times(pg_url, ids):
    lo, hi = min(ids, key=int), max(ids, key=int)
    (first_created, last_ended), = psql(
        pg_url, "SELECT extract(epoch FROM min(created_at)), extract(epoch FROM max(ended_at)) "
                f"FROM scheduler_tasks WHERE id BETWEEN {lo} AND {hi}")
    per_second = [int(c) for _, c in psql(
        pg_url, "SELECT floor(extract(epoch FROM ended_at)), count(*) FROM scheduler_tasks "
                f"WHERE id BETWEEN {lo} AND {hi} GROUP BY 1 ORDER BY 1")]
    return float(first_created), float(last_ended), per_second


def commits(pg_url):
    (n,), = psql(pg_url, "SELECT xact_commit FROM pg_stat_database "
                         "WHERE datname = current_database()")
    return int(n)


def read_receipts(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[r["task_id"]] = r["received_unix_us"]
    return out


def latencies_ms(started_us, receipts):
    missing = [t for t in started_us if t not in receipts]
    if missing:
        raise BenchError(f"{len(missing)} tasks never reached a node, e.g. task {missing[0]}")
    return [(receipts[t] - s) / 1000 for t, s in started_us.items()]


def summary(values):
    return {"p50": round(percentile(values, 50), 2), "p90": round(percentile(values, 90), 2),
            "p99": round(percentile(values, 99), 2), "max": round(max(values), 2)}


def run_burst(args, kernel, token, pg_dir):
    sub = Submitter(kernel, token)
    commits_before = commits(args.pg_url)
    cpu_kernel = cpu_seconds(kernel.proc.pid)
    cpu_pg = postgres_cpu_seconds(pg_dir)
    t0 = time.monotonic()
    sub.burst(args.burst, args.threads)
    submit_s = time.monotonic() - t0
    wait_ended(args.pg_url, list(sub.started_us), 300)
    cpu_kernel = cpu_seconds(kernel.proc.pid) - cpu_kernel
    cpu_pg = postgres_cpu_seconds(pg_dir) - cpu_pg
    first, last, per_second = task_times(args.pg_url, list(sub.started_us))
    # Backends report their commits when idle, at most 10 s later (PostgreSQL 15).
    time.sleep(11)
    commits_per_task = (commits(args.pg_url) - commits_before) / args.burst
    span = last - first
    return sub, {
        "tasks": args.burst,
        "submit_threads": args.threads,
        "submitted_per_second": round(args.burst / submit_s),
        "submit_call_ms": summary(sub.call_ms),
        "created_to_succeeded_s": round(span, 2),
        "tasks_per_second": round(args.burst / span),
        "peak_succeeded_in_one_second": max(per_second),
        "commits_per_task": round(commits_per_task, 1),
        "kernel_cpu_ms_per_task": round(1000 * cpu_kernel / args.burst, 3),
        "postgres_cpu_ms_per_task": round(1000 * cpu_pg / args.burst, 3),
    }


def attempt_start(pg_url, ids):
    lo, hi = min(ids, key=int), max(ids, key=int)
    (first,), = psql(pg_url, "SELECT extract(epoch FROM min(created_at)) FROM scheduler_attempts "
                             f"WHERE task_id BETWEEN {lo} AND {hi}")
    return float(first)


def run_drain(args, kernel, token, pg_dir, start_agents):
    """Queued to succeeded alone: the tasks are queued before any node is online, then the
    nodes come; from the first assignment to the last task succeeded."""
    sub = Submitter(kernel, token)
    sub.burst(args.drain, args.threads)
    cpu_kernel = cpu_seconds(kernel.proc.pid)
    cpu_pg = postgres_cpu_seconds(pg_dir)
    load = start_agents()
    wait_ended(args.pg_url, list(sub.started_us), 300)
    cpu_kernel = cpu_seconds(kernel.proc.pid) - cpu_kernel
    cpu_pg = postgres_cpu_seconds(pg_dir) - cpu_pg
    _, last, per_second = task_times(args.pg_url, list(sub.started_us))
    span = last - attempt_start(args.pg_url, list(sub.started_us))
    return load, {
        "tasks": args.drain,
        "assigned_to_succeeded_s": round(span, 2),
        "tasks_per_second": round(args.drain / span),
        "peak_succeeded_in_one_second": max(per_second),
        "kernel_cpu_ms_per_task": round(1000 * cpu_kernel / args.drain, 3),
        "postgres_cpu_ms_per_task": round(1000 * cpu_pg / args.drain, 3),
    }


def run_steady(args, kernel, token):
    sub = Submitter(kernel, token)
    sub.paced(args.rate, args.steady_s, args.threads)
    wait_ended(args.pg_url, list(sub.started_us), 120)
    return sub, {
        "rate_per_second": args.rate,
        "duration_s": args.steady_s,
        "tasks": len(sub.started_us),
        "submit_call_ms": summary(sub.call_ms),
        "submit_start_late_ms": summary(sub.late_ms),
    }


def run_pgbench(args):
    psql(args.pg_url, "DROP TABLE IF EXISTS bench_commit; CREATE TABLE bench_commit (v integer)")
    script = Path(args.work) / "commit.sql"
    script.write_text("INSERT INTO bench_commit (v) VALUES (1);\n")
    out = subprocess.run(["pgbench", "-n", "-c", "1", "-T", str(args.pgbench_s), "-f",
                          str(script), args.pg_url],
                         capture_output=True, text=True, timeout=args.pgbench_s + 60)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if out.returncode != 0 or not m:
        raise BenchError(f"pgbench failed: {out.stdout[-300:]} {out.stderr[-300:]}")
    psql(args.pg_url, "DROP TABLE bench_commit")
    return {"clients": 1, "duration_s": args.pgbench_s, "commits_per_second": round(float(m[1]))}


def warm_up(kernel, token, pg_url):
    """A few tasks first: the nodes' slots are known and every connection is open."""
    sub = Submitter(kernel, token)
    sub.burst(20, 2)
    wait_ended(pg_url, list(sub.started_us), 60)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True, help="folder holding the built programs")
    p.add_argument("--plugins", required=True, help="folder holding the built plugins")
    p.add_argument("--pg-url", required=True)
    p.add_argument("--pg-dir", required=True, help="the cluster's folder (CPU of postgres)")
    p.add_argument("--work", required=True, help="scratch folder for configs, logs, reports")
    p.add_argument("--results", required=True, help="write all results here as JSON")
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--task-slots", type=int, default=64)
    p.add_argument("--drain", type=int, default=5000,
                   help="tasks queued before the nodes come (0: no such part)")
    p.add_argument("--burst", type=int, default=5000, help="tasks submitted while nodes run")
    p.add_argument("--threads", type=int, default=4, help="submitting connections")
    p.add_argument("--rate", type=float, default=100, help="tasks a second, latency part")
    p.add_argument("--steady-s", type=float, default=20, help="seconds of the latency part")
    p.add_argument("--dispatch-interval-ms", type=int, default=10)
    p.add_argument("--pgbench-s", type=int, default=10)
    args = p.parse_args()

    procs = Processes(args.work, Path(args.work) / "pids")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    results = {"agents": args.agents, "task_slots": args.task_slots,
               "dispatch_interval_ms": args.dispatch_interval_ms}
    try:
        extra = (f'[plugins]\ndir = "{args.plugins}"\nenabled = ["scheduler"]\n'
                 f"[plugin.scheduler]\ndispatch_interval_ms = {args.dispatch_interval_ms}\n")
        kernel = Kernel(procs, args.bin, args.work, args.pg_url, 5, 60, extra)
        kernel.start()
        kernel.wait_healthy()
        token = kernel.admin_token()
        tokens = Path(args.work) / "tokens.txt"
        kernel.issue_tokens(args.agents, tokens)

        received = Path(args.work) / "received.jsonl"

        def start_agents():
            return LoadRun(procs, args.bin, args.work, "agents",
                           ["--server", f"ws://127.0.0.1:{kernel.provider_port}", "--tokens",
                            str(tokens), "--agents", str(args.agents), "--duration", "900",
                            "--run-tasks", "--task-slots", str(args.task_slots),
                            "--received", str(received)])

        if args.drain > 0:
            load, results["drain"] = run_drain(args, kernel, token, args.pg_dir, start_agents)
            print(f"drain: {json.dumps(results['drain'])}", flush=True)
        else:
            load = start_agents()
        load.wait_online(args.agents, 60)
        warm_up(kernel, token, args.pg_url)

        burst, results["burst"] = run_burst(args, kernel, token, args.pg_dir)
        print(f"burst: {json.dumps(results['burst'])}", flush=True)
        steady, results["steady"] = run_steady(args, kernel, token)

        report = load.finish()
        receipts = read_receipts(received)
        results["agents_report"] = {k: report.get(k) for k in (
            "registered", "failures", "failure_kinds", "tasks_received", "assigns_repeated",
            "task_reports", "acks_received")}
        results["burst"]["submit_to_node_ms"] = summary(latencies_ms(burst.started_us, receipts))
        results["steady"]["submit_to_node_ms"] = summary(
            latencies_ms(steady.started_us, receipts))
        print(f"steady: {json.dumps(results['steady'])}", flush=True)
        kernel.stop()

        results["pgbench"] = run_pgbench(args)
        for part in ("drain", "burst"):
            if part in results:
                results[part]["tasks_per_second_to_commits_per_second"] = round(
                    results[part]["tasks_per_second"]
                    / results["pgbench"]["commits_per_second"], 3)
    finally:
        procs.end_all()
        Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"dispatch-bench: {e}", file=sys.stderr)
        sys.exit(1)
