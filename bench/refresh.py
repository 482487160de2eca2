"""The refresh rows of `make bench`: rounds of refresh_all over the simulated vendor at the
shipped defaults, what a team gets without tuning, each beside its vendor's limit.

Two kinds of vendor, each against its own limit: one that reads one device per call
(SIMULATOR_BATCH_SIZE=1) and one that reads 100 at once. Both take 0.1 s a call and answer 429
beyond 50 calls at once (SIMULATOR_MAX_CONCURRENT_CALLS, which the project's own limit follows
unless a team sets another). The limit of a round is the vendor's: its calls, 50 at a time,
0.1 s each.

- celery-beat: worker processes as the Procfile starts them (threads, concurrency 8) on Redis
  (BENCH_REDIS_URL, database 8 by default); a round is timed from the start of the
  refresh_all task to the settling of its last batch (its JobRun row).
- heroku-scheduler: `manage.py run_job refresh_all`, timed from the command's start to its
  exit, process start-up included, as Heroku Scheduler pays it.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from .common import environment, peak_rss_mb, row, run, say

BENCH_DIR = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
RUNS = 3
LATENCY = 0.1
CALLS_AT_ONCE = 50
FLEETS = (1_000, 10_000)
# SIMULATOR_BATCH_SIZE of each kind of vendor.
VENDOR_KINDS = {"per-device": 1, "batch": 100}
# Worker processes for the scale-out rows, beside the one of the main rows.
SCALE_OUT = (2, 4)
# The Procfile's worker: `--concurrency ${WORKER_CONCURRENCY:-8}`.
WORKER_CONCURRENCY = 8
REFERENCE_DEVICES = 100
# Where the simulated vendor keeps the most calls it saw at once (vendors/simulator_redis.py).
MOST_CALLS_KEY = "simulator:most-calls-at-once"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def vendor(batch_size: int) -> dict[str, str]:
    return {
        "SIMULATOR_LATENCY": str(LATENCY),
        "SIMULATOR_MAX_CONCURRENT_CALLS": str(CALLS_AT_ONCE),
        "SIMULATOR_BATCH_SIZE": str(batch_size),
        # One reading per device for the whole benchmark: every run stores the same rows.
        "SIMULATOR_READING_PERIOD": "1000000",
    }


def limit_seconds(devices: int, batch_size: int) -> float:
    """The vendor's limit: its calls, CALLS_AT_ONCE at a time, LATENCY each."""
    calls = math.ceil(devices / batch_size)
    return math.ceil(calls / CALLS_AT_ONCE) * LATENCY


def seeded_database(project, devices: int) -> str:
    database_url = project.fresh_database("refresh")
    project.manage(database_url, "seed_demo", "--devices", str(devices), "--history-days", "0")
    return database_url


def forget_readings(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "TRUNCATE observations_attribute, observations_status, interactions_jobrun CASCADE"
        )


def settled_round(database_url: str) -> tuple | None:
    """(seconds, devices refreshed, devices failed) of the last refresh_all round, once
    settled."""
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT EXTRACT(EPOCH FROM finished_at - started_at), devices_refreshed, "
            "devices_failed FROM interactions_jobrun WHERE name = 'refresh_all' "
            "AND outcome <> 'running' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()


def check_round(result: tuple | None, devices: int) -> float:
    if result is None or (result[1], result[2]) != (devices, 0):
        sys.exit(f"refresh_all did not refresh all {devices} devices: {result}")
    return float(result[0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


@contextmanager
def workers(project, count: int, **variables: str):
    """`count` worker processes, started as the Procfile starts one; yields their pids."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    command = [
        project.root / ".venv/bin/celery", "--app", "config", "worker",
        "--queues", "control,monitor", "--without-gossip", "--without-mingle",
        "--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "WARNING",
    ]  # fmt: skip
    processes = [
        subprocess.Popen(
            [*command, "--hostname", f"bench{number}@%h"],
            cwd=project.root,
            env=environment(REDIS_URL=REDIS_URL, **variables),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number in range(count)
    ]
    try:
        time.sleep(4)  # the workers connect
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def celery_rounds(project, database_url: str, devices: int, batch_size: int, count=1) -> dict:
    """Median round time with `count` worker processes; their CPU time per round, peak RSS,
    and the most calls the vendor saw at once."""
    timings = []
    with workers(project, count, DATABASE_URL=database_url, **vendor(batch_size)) as pids:
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        for attempt in range(RUNS):
            forget_readings(database_url)
            run(
                [project.root / ".venv/bin/celery", "--app", "config", "call",
                 "interactions.refresh_all"],
                project.root, DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
            )  # fmt: skip
            deadline = time.monotonic() + 300
            while (result := settled_round(database_url)) is None:
                if time.monotonic() > deadline:
                    sys.exit("the workers did not settle the round within 300 s")
                time.sleep(0.1)
            timings.append(check_round(result, devices))
            say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.2f} s")
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        peak = max(peak_rss_mb(pid) for pid in pids)
        most = int(redis.Redis.from_url(REDIS_URL).get(MOST_CALLS_KEY) or 0)
    return {"s": statistics.median(timings), "cpu_s": cpu / RUNS, "rss_mb": peak, "most": most}


def scheduler_rounds(project, database_url: str, devices: int, batch_size: int) -> dict:
    """Median time of `run_job refresh_all` from start to exit, and of its round alone."""
    timings, rounds = [], []
    for attempt in range(RUNS):
        forget_readings(database_url)
        started = time.perf_counter()
        project.manage(database_url, "run_job", "refresh_all", **vendor(batch_size))
        timings.append(time.perf_counter() - started)
        rounds.append(check_round(settled_round(database_url), devices))
        say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.2f} s ({rounds[-1]:.2f} s the round)")
    return {"s": statistics.median(timings), "round_s": statistics.median(rounds)}


def sequential_seconds(project, database_url: str) -> float:
    """The 2016 template's loop over REFERENCE_DEVICES devices, scaled to 1,000."""
    say(f"reference: the 2016 sequential loop on {REFERENCE_DEVICES} devices")
    forget_readings(database_url)
    seconds = run(
        [project.python, BENCH_DIR / "probes/sequential_refresh.py"],
        project.root,
        DATABASE_URL=database_url,
        BENCH_REFERENCE_DEVICES=str(REFERENCE_DEVICES),
        **vendor(1),
    )
    return float(seconds) * 1000 / REFERENCE_DEVICES


def refresh_figures(celery_project, scheduler_project) -> dict:
    figures: dict = {}
    for devices in FLEETS:
        celery_url = seeded_database(celery_project, devices)
        scheduler_url = seeded_database(scheduler_project, devices)
        for kind, batch_size in VENDOR_KINDS.items():
            key = f"{kind}_{devices}"
            say(f"refresh, celery-beat: {devices:,} devices, {kind} vendor")
            celery = celery_rounds(celery_project, celery_url, devices, batch_size)
            figures[f"celery_refresh_{key}_s"] = celery["s"]
            figures[f"celery_most_calls_{key}"] = celery["most"]
            figures["worker_peak_rss_mb"] = max(
                figures.get("worker_peak_rss_mb", 0), celery["rss_mb"]
            )
            figures[f"celery_cpu_per_round_{key}_s"] = celery["cpu_s"]
            say(f"refresh, heroku-scheduler run_job: {devices:,} devices, {kind} vendor")
            scheduler = scheduler_rounds(scheduler_project, scheduler_url, devices, batch_size)
            figures[f"scheduler_refresh_{key}_s"] = scheduler["s"]
            figures[f"scheduler_round_{key}_s"] = scheduler["round_s"]
        if devices == max(FLEETS):
            for count in SCALE_OUT:
                say(f"refresh, celery-beat: {devices:,} devices, per-device, {count} workers")
                celery = celery_rounds(celery_project, celery_url, devices, 1, count)
                figures[f"celery_refresh_per-device_{devices}_{count}_workers_s"] = celery["s"]
                figures[f"celery_most_calls_per-device_{devices}_{count}_workers"] = celery["most"]
        if devices == min(FLEETS):
            figures["sequential_refresh_s"] = sequential_seconds(scheduler_project, scheduler_url)
    return figures


def worker_cpu_per_device_refresh(figures: dict) -> float | None:
    """The worker's CPU per device refreshed, over its 1,000-device rounds with a per-device
    vendor; None unless they ran."""
    devices = FLEETS[0]
    round_s = figures.get(f"celery_cpu_per_round_per-device_{devices}_s")
    return None if round_s is None else round_s / devices


def refresh_rows(f: dict) -> list[dict]:
    rows = []
    for devices in FLEETS:
        for kind, batch_size in VENDOR_KINDS.items():
            key = f"{kind}_{devices}"
            limit = limit_seconds(devices, batch_size)
            calls = math.ceil(devices / batch_size)
            reference = f"limit {calls:,} calls x {LATENCY:g} s / {CALLS_AT_ONCE} at once"
            for mode, label in (
                ("celery", "celery-beat, 1 worker"),
                ("scheduler", "heroku-scheduler run_job, start-up included"),
            ):
                seconds = f[f"{mode}_refresh_{key}_s"]
                rows.append(row(
                    f"refresh {devices:,} devices, {kind} vendor, {label} (s)", seconds, limit,
                    reference, "<= 1.5x the limit", seconds <= 1.5 * limit,
                ))  # fmt: skip
    # What the batch vendor's rounds cannot go below on this machine: the worker process's own
    # CPU (the simulated vendor's work included, PostgreSQL's not). Its threads run Python one
    # at a time, and most of that CPU comes after the vendor has answered.
    for devices in FLEETS:
        key = f"batch_{devices}"
        if f"celery_cpu_per_round_{key}_s" in f:
            target = 1.5 * limit_seconds(devices, VENDOR_KINDS["batch"])
            rows.append(row(
                f"refresh {devices:,} devices, batch vendor: the worker process's CPU for a "
                "round (s)", f[f"celery_cpu_per_round_{key}_s"], target,
                "the target, 1.5x the limit", "context: a floor of the round",
            ))  # fmt: skip
    devices = max(FLEETS)
    limit = limit_seconds(devices, 1)
    for count in SCALE_OUT:
        seconds = f[f"celery_refresh_per-device_{devices}_{count}_workers_s"]
        rows.append(row(
            f"refresh {devices:,} devices, per-device vendor, celery-beat, {count} workers (s)",
            seconds, limit, "the same limit", "<= 1.5x the limit", seconds <= 1.5 * limit,
        ))  # fmt: skip
    most = max(v for k, v in f.items() if k.startswith("celery_most_calls_"))
    rows += [
        row("most calls at once the vendor saw, any celery-beat row", most, CALLS_AT_ONCE,
            "the vendor's limit", f"<= {CALLS_AT_ONCE}", most <= CALLS_AT_ONCE),
        row(f"devices per minute per worker process, per-device vendor, {devices:,} devices",
            devices / f[f"celery_refresh_per-device_{devices}_s"] * 60),
        row("worker CPU per device refresh, per-device vendor (ms)",
            worker_cpu_per_device_refresh(f) * 1000),
        row("refresh 1,000 devices, 2016 sequential loop (s)", f["sequential_refresh_s"], 100.0,
            "the 2016 loop, measured once", "reference only"),
        row("worker peak RSS during the refresh rows (MB)", f["worker_peak_rss_mb"]),
    ]  # fmt: skip
    return rows
