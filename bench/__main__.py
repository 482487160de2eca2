"""`make bench`: measure what a baked project exists for, beside the reference figures.

Bakes the default project (celery-beat) and the heroku-scheduler variant, runs them on this
machine's PostgreSQL and Redis, and prints one table: work, this project, reference, ratio.
The table is also written to bench/results/latest.json and latest.md. See bench/README.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

import psycopg

from . import database
from .common import environment, row, run, say
from .refresh import refresh_figures, refresh_rows

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
# Each run's databases are named with this prefix, and dropped at the end.
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "bench_")
RUNS = 3
DEVICES = 1000
# The parts of `make bench`, each a set of figures and rows; `python -m bench PART...` (or
# `make bench PARTS="PART..."`) runs only those named.
PARTS = ("refresh", *database.PARTS, "first-green", "webhooks", "exports", "partitions", "mqtt")
# Run only when named: loading 50M readings takes longer than all the other parts together.
ON_DEMAND = ("partitions",)


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
        """A new database, named after the part of the benchmark that uses it."""
        name = f"{DATABASE_PREFIX}{part}_{secrets.token_hex(4)}"
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


def time_to_first_green_test() -> float:
    say("time to first green test: bake, uv sync (warm cache), its test suite")
    # Whatever an earlier run left PostgreSQL to write out (millions of rows, databases
    # dropped) is written first: the suite shares the disk with it otherwise.
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute("CHECKPOINT")
    timings = []
    for attempt in range(RUNS):
        # The last run's project is deleted before the clock starts: a team has none.
        shutil.rmtree(WORK_DIR / "first-green", ignore_errors=True)
        started = time.perf_counter()
        project = Project("first-green")
        # As its README says to: `make test`, the suite spread over every core.
        run(["make", "test"], project.root)
        timings.append(time.perf_counter() - started)
        say(f"  run {attempt + 1}/{RUNS}: {timings[-1]:.1f} s")
    return statistics.median(timings)


def table(f: dict, parts: list[str]) -> list[dict]:
    """The rows of the parts whose figures `f` holds."""
    rows = refresh_rows(f) if "refresh" in parts else []
    rows += database.rows(f, set(parts), row)
    if "first-green" in parts:
        rows.append(row("time to first green test (s)", f["first_green_s"], 30.0, "target",
                        "<= 30 s", f["first_green_s"] <= 30))  # fmt: skip
    if "webhooks" in parts:
        rows += [
            row("webhook pushes acknowledged, gunicorn x 2 (req/s)", f["webhook_requests_per_s"]),
            row("webhook answer time, p99 (ms)", f["webhook_p99_ms"]),
        ]
    if "exports" in parts:
        for size in ("100k", "1000k"):
            copy, readings = f[f"export_{size}_copy_s"], f"{f[f'export_{size}_rows']:,}"
            rows += [
                row(f"export of {readings} readings, written by a worker (s)",
                    f[f"export_{size}_write_s"], copy, "COPY TO of the same rows, same run"),
                row(f"export of {readings} readings, download (s)",
                    f[f"export_{size}_download_s"], copy, "COPY TO of the same rows, same run"),
                row(f"export of {readings} readings, process peak RSS (MB)",
                    f[f"export_{size}_process_mb"]),
            ]  # fmt: skip
    if "partitions" in parts:
        from . import partitions  # it uses this module's Project

        rows += partitions.rows(f, row)
    if "mqtt" in parts:
        rows.append(
            row("MQTT backlog stored by consume_mqtt (readings/s)",
                f["mqtt_consumer_readings_per_s"], f["mqtt_bare_readings_per_s"],
                "a bare paho-mqtt subscriber receiving the same messages, same run", ">= 0.5x",
                f["mqtt_consumer_readings_per_s"] >= 0.5 * f["mqtt_bare_readings_per_s"])
        )  # fmt: skip
    return rows


def number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def markdown(rows: list[dict], seconds: float, parts: list[str]) -> str:
    lines = [
        "| work | this project | reference | ratio | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for line in rows:
        met = {True: "yes", False: "**no**", None: ""}[line["met"]]
        reference = (
            f"{number(line['reference'])} ({line['reference_is']})" if line["reference"] else "-"
        )
        ratio = "-" if line["ratio"] is None else f"{line['ratio']:.2f}"
        if line["ratio"] is not None and line["ratio"] < 0.01:
            ratio = f"{line['ratio']:.2g}"  # a thousandth, not 0.00
        lines.append(
            f"| {line['work']} | {number(line['this'])} | {reference} | {ratio} "
            f"| {line['target']} | {met} |"
        )
    lines.append("")
    lines.append(
        f"{DEVICES:,} devices; medians of {RUNS} runs (5 for ingest's poll batches, 9 for the "
        f"reads); {seconds / 60:.1f} minutes in all."
    )
    if parts != list(PARTS):
        lines.append(f"This run measured {', '.join(parts)}; the other rows are from the last.")
    return "\n".join(lines) + "\n"


def previous_figures() -> dict:
    """The figures of the last results, or none."""
    try:
        return json.loads((RESULTS_DIR / "latest.json").read_text())["figures"]
    except (OSError, ValueError, KeyError):
        return {}


def main() -> None:
    # Imported here: these parts use this module's Project.
    from . import exports, mqtt, partitions, webhooks

    # Parts named apart or with commas between them: `refresh ingest` or `refresh,ingest`.
    parts = [part for given in sys.argv[1:] for part in given.replace(",", " ").split()]
    parts = parts or [part for part in PARTS if part not in ON_DEMAND]
    if unknown := sorted(set(parts) - set(PARTS)):
        sys.exit(f"unknown part {', '.join(unknown)}: choose among {', '.join(PARTS)}")
    started = time.perf_counter()
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
        # First, while the machine is quiet: not while PostgreSQL writes out the millions of
        # rows the other parts store.
        if "first-green" in parts:
            figures["first_green_s"] = time_to_first_green_test()
        if "refresh" in parts:
            figures |= refresh_figures(celery_project, scheduler_project)
        figures |= database.measure(
            celery_project, scheduler_project, set(parts), environment, figures
        )
        if "webhooks" in parts:
            figures |= webhooks.measure(scheduler_project)
        if "exports" in parts:
            figures |= exports.measure(celery_project)
        if "partitions" in parts:
            figures |= partitions.measure(celery_project)
        if "mqtt" in parts:
            figures |= mqtt.measure()
    finally:
        celery_project.drop_databases()
        scheduler_project.drop_databases()
    seconds = time.perf_counter() - started
    RESULTS_DIR.mkdir(exist_ok=True)
    rows = table(figures, parts)
    if parts != list(PARTS):
        # Some parts only: the others keep their rows of the last results, when it has them.
        merged = previous_figures() | figures
        with contextlib.suppress(KeyError):
            rows, figures = table(merged, list(PARTS)), merged
    (RESULTS_DIR / "latest.json").write_text(
        json.dumps({"figures": figures, "table": rows}, indent=2) + "\n"
    )
    report = markdown(rows, seconds, parts)
    (RESULTS_DIR / "latest.md").write_text(report)
    say("\n" + report)


if __name__ == "__main__":
    main()
