"""`make bench`: measure what a baked project exists for, beside the reference figures.

Bakes the default project (celery-beat) and the heroku-scheduler variant, runs them on this
machine's PostgreSQL and Redis, and prints one table: work, this project, reference, ratio.
The table is also written to bench/results/latest.json and latest.md. See bench/README.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis

from bench import database

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/9"
RUNS = 3
# `make bench PARTS=ingest,reads`: the parts to run, all by default.
PARTS = ("refresh", *database.PARTS, "first-green", "webhooks", "exports")

DEVICES = 1000
LATENCY = 0.1
CONCURRENT_CALLS = 50
# The work's lower bound: every device read once through a vendor that allows 50 calls at once.
REFRESH_LIMIT = DEVICES * LATENCY / CONCURRENT_CALLS
REFERENCE_DEVICES = 100
SLOW_VENDOR = {
    "SIMULATOR_LATENCY": str(LATENCY),
    "SIMULATOR_MAX_CONCURRENT_CALLS": str(CONCURRENT_CALLS),
    # One reading per device for the whole benchmark: every run stores the same rows.
    "SIMULATOR_READING_PERIOD": "1000000",
}
LEAKY = ("VIRTUAL_ENV", "DJANGO_", "DATABASE_URL", "REDIS_URL", "SENTRY_", "SIMULATOR_")


def say(message: str) -> None:
    print(message, flush=True)


def environment(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY)}
    return base | {"UV_PYTHON_DOWNLOADS": "never", "BENCH_SLUG": "iot_monitor"} | variables


def run(command, cwd: Path, **variables: str) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment(**variables),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"`{' '.join(map(str, command))}` failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Project:
    """A baked project on a fresh PostgreSQL database of its own."""

    def __init__(self, name: str, **answers: str):
        self.root = WORK_DIR / name / "iot_monitor"
        shutil.rmtree(self.root.parent, ignore_errors=True)
        extra = [f"{key}={value}" for key, value in answers.items()]
        run(
            [
                sys.executable,
                "-m",
                "cookiecutter",
                TEMPLATE_DIR,
                "--no-input",
                "-o",
                self.root.parent,
                *extra,
            ],
            TEMPLATE_DIR,
        )
        run([os.environ.get("UV", "uv"), "sync", "--quiet"], self.root)
        self.python = self.root / ".venv/bin/python"
        self.databases: list[str] = []

    def fresh_database(self, part: str) -> str:
        name = f"bench_{part}_{secrets.token_hex(4)}"
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        url = f"{POSTGRES}/{name}"
        self.manage(url, "migrate", "--verbosity", "0")
        return url

    def manage(self, database_url: str, *arguments: str, **variables: str) -> str:
        return run(
            [self.python, "manage.py", *arguments],
            self.root,
            DATABASE_URL=database_url,
            **variables,
        )

    def drop_databases(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            for name in self.databases:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refresh_seconds(database_url: str) -> float:
    """From the start of the refresh_all run to the last reading stored."""
    with psycopg.connect(database_url) as connection:
        seconds = connection.execute(
            "SELECT EXTRACT(EPOCH FROM (SELECT max(recorded_at) FROM observations_attribute) - "
            "(SELECT max(started_at) FROM interactions_jobrun WHERE name = 'refresh_all'))"
        ).fetchone()[0]
    return float(seconds)


def stored_devices(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(DISTINCT device_id) FROM observations_attribute"
        ).fetchone()[0]


def forget_readings(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "TRUNCATE observations_attribute, observations_status, interactions_jobrun"
        )


def celery_refresh(project: Project) -> dict:
    say(
        f"refresh, celery-beat: {DEVICES:,} devices, {LATENCY:g} s latency, "
        f"{CONCURRENT_CALLS} calls at once"
    )
    database_url = project.fresh_database("refresh")
    project.manage(database_url, "seed_demo", "--devices", str(DEVICES), "--history-days", "0")
    redis.Redis.from_url(REDIS_URL).flushdb()
    variables = environment(DATABASE_URL=database_url, REDIS_URL=REDIS_URL, **SLOW_VENDOR)
    worker = subprocess.Popen(
        [
            project.root / ".venv/bin/celery",
            "--app",
            "config",
            "worker",
            "--queues",
            "control,monitor",
            "--pool",
            "threads",
            "--concurrency",
            "16",
            "--loglevel",
            "WARNING",
        ],
        cwd=project.root,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    timings = []
    try:
        time.sleep(3)  # the worker connects
        for attempt in range(RUNS):
            forget_readings(database_url)
            run(
                [
                    project.root / ".venv/bin/celery",
                    "--app",
                    "config",
                    "call",
                    "interactions.refresh_all",
                ],
                project.root,
                DATABASE_URL=database_url,
                REDIS_URL=REDIS_URL,
            )
            deadline = time.monotonic() + 120
            while stored_devices(database_url) < DEVICES and time.monotonic() < deadline:
                time.sleep(0.05)
            if stored_devices(database_url) < DEVICES:
                sys.exit("the worker did not refresh every device within 120 s")
            timings.append(refresh_seconds(database_url))
            say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.2f} s")
        peak_rss = peak_rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {"celery_refresh_s": statistics.median(timings), "worker_peak_rss_mb": peak_rss}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scheduler_refresh(project: Project) -> dict:
    say("refresh, heroku-scheduler: run_job refresh_all")
    database_url = project.fresh_database("refresh")
    project.manage(database_url, "seed_demo", "--devices", str(DEVICES), "--history-days", "0")
    timings = []
    for attempt in range(RUNS):
        forget_readings(database_url)
        project.manage(
            database_url, "run_job", "refresh_all", REFRESH_CONCURRENCY="16", **SLOW_VENDOR
        )
        if stored_devices(database_url) < DEVICES:
            sys.exit("run_job refresh_all left devices unrefreshed")
        timings.append(refresh_seconds(database_url))
        say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.2f} s")
    say(f"reference: the 2016 sequential loop on {REFERENCE_DEVICES} devices")
    forget_readings(database_url)
    sequential = float(
        run(
            [project.python, BENCH_DIR / "probes/sequential_refresh.py"],
            project.root,
            DATABASE_URL=database_url,
            BENCH_REFERENCE_DEVICES=str(REFERENCE_DEVICES),
            **SLOW_VENDOR,
        )
    )
    return {
        "scheduler_refresh_s": statistics.median(timings),
        "sequential_refresh_s": sequential * DEVICES / REFERENCE_DEVICES,
    }


def time_to_first_green_test() -> float:
    say("time to first green test: bake, uv sync (warm cache), migrate, its test suite")
    timings = []
    for attempt in range(RUNS):
        started = time.perf_counter()
        project = Project("first-green")
        run([project.python, "manage.py", "migrate", "--verbosity", "0"], project.root)
        # As its README says to: `make test`, the suite spread over every core.
        run(["make", "test"], project.root)
        timings.append(time.perf_counter() - started)
        say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.1f} s")
    return statistics.median(timings)


def row(work, this, reference=None, reference_is="-", target="-", met=None) -> dict:
    ratio = this / reference if reference else None
    return {"work": work, "this": this, "reference": reference, "reference_is": reference_is,
            "ratio": ratio, "target": target, "met": met}  # fmt: skip


def table(f: dict, parts: set[str]) -> list[dict]:
    limit = "limit 1,000 x 0.1 s / 50"
    rows = []
    if "refresh" in parts:
        rows += [
            row("refresh 1,000 devices, celery-beat (s)", f["celery_refresh_s"], REFRESH_LIMIT,
                limit, "<= 1.5x the limit", f["celery_refresh_s"] <= 1.5 * REFRESH_LIMIT),
            row("refresh 1,000 devices, heroku-scheduler run_job (s)", f["scheduler_refresh_s"],
                REFRESH_LIMIT, limit, "<= 1.5x the limit",
                f["scheduler_refresh_s"] <= 1.5 * REFRESH_LIMIT),
            row("refresh 1,000 devices, 2016 sequential loop (s)", f["sequential_refresh_s"],
                100.0, "the 2016 loop, measured once", "reference only"),
            row("worker peak RSS during the refresh (MB)", f["worker_peak_rss_mb"]),
        ]  # fmt: skip
    rows += database.rows(f, parts, row)
    if "webhooks" in parts:
        rows += [
            row("webhook pushes acknowledged, gunicorn x 2 (req/s)", f["webhook_requests_per_s"]),
            row("webhook answer time, p99 (ms)", f["webhook_p99_ms"]),
        ]
    if "exports" in parts:
        for size in ("100k", "1000k"):
            copy = f["export_{size}_copy_s"]
            rows += [
                row(f"export of {f[f'export_{size}_rows']:,} readings, written by a worker (s)",
                    f[f"export_{size}_write_s"], copy, "COPY TO of the same rows, same run"),
                row(f"export of {f[f'export_{size}_rows']:,} readings, download (s)",
                    f[f"export_{size}_download_s"], copy, "COPY TO of the same rows, same run"),
                row(f"export of {f[f'export_{size}_rows']:,} readings, process peak RSS (MB)",
                    f[f"export_{size}_process_mb"]),
            ]  # fmt: skip
    if "first-green" in parts:
        rows.append(
            row("time to first green test (s)", f["first_green_s"], 30.0, "target", "<= 30 s",
                f["first_green_s"] <= 30)
        )  # fmt: skip
    return rows


def number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def markdown(rows: list[dict], seconds: float) -> str:
    lines = [
        "| work | this project | reference | ratio | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        reference = (
            f"{number(row['reference'])} ({row['reference_is']})" if row["reference"] else "-"
        )
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        if row["ratio"] is not None and row["ratio"] < 0.01:
            ratio = f"{row['ratio']:.2g}"  # a thousandth, not 0.00
        lines.append(
            f"| {row['work']} | {number(row['this'])} | {reference} | {ratio} "
            f"| {row['target']} | {met} |"
        )
    lines.append("")
    lines.append(
        f"{DEVICES:,} devices; medians of {RUNS} runs (5 for ingest's poll batches, 9 for the "
        f"reads); {seconds / 60:.1f} minutes in all."
    )
    return "\n".join(lines) + "\n"


def chosen_parts() -> set[str]:
    chosen = {part.strip() for part in os.environ.get("PARTS", "").split(",") if part.strip()}
    if unknown := chosen - set(PARTS):
        sys.exit(f"PARTS={','.join(sorted(unknown))}: choose from {','.join(PARTS)}.")
    return chosen or set(PARTS)


def main() -> None:
    # Imported here: these parts use this module's helpers.
    from . import exports, webhooks

    started = time.perf_counter()
    parts = chosen_parts()
    for service, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            sys.exit(
                f"{service} does not answer on 127.0.0.1:{port}: "
                "start it and run `make bench` again."
            )
    say("baking the default project and the heroku-scheduler variant")
    celery_project = Project("celery-beat")
    scheduler_project = Project("heroku-scheduler", scheduler="heroku-scheduler")
    figures = {}
    try:
        if "refresh" in parts:
            figures |= celery_refresh(celery_project)
            figures |= scheduler_refresh(scheduler_project)
        figures |= database.measure(celery_project, scheduler_project, parts, environment, figures)
        if "first-green" in parts:
            figures["first_green_s"] = time_to_first_green_test()
        if "webhooks" in parts:
            figures |= webhooks.measure(scheduler_project)
        if "exports" in parts:
            figures |= exports.measure(celery_project)
    finally:
        celery_project.drop_databases()
        scheduler_project.drop_databases()
    seconds = time.perf_counter() - started
    RESULTS_DIR.mkdir(exist_ok=True)
    rows = table(figures, parts)
    (RESULTS_DIR / "latest.json").write_text(
        json.dumps({"figures": figures, "table": rows}, indent=2) + "\n"
    )
    report = markdown(rows, seconds)
    (RESULTS_DIR / "latest.md").write_text(report)
    say("\n" + report)


if __name__ == "__main__":
    main()
