"""The database parts of `make bench`: ingest, reads, and the 100,000-device projection.

The measuring happens inside the baked project (probes/database.py), one process per part on a
database of its own; this module runs the probes, measures the CPU a device-refresh costs, and
turns the figures into rows.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .refresh import worker_cpu_per_device_refresh

PARTS = ("ingest", "reads", "projection")
PROBE = Path(__file__).resolve().parent / "probes/database.py"
PROJECTED_DEVICES = 100_000
# What each device stores per refresh, as the simulated plugs do: two readings and a status.
READINGS_PER_REFRESH = 2
STATUSES_PER_REFRESH = 1
ROWS_PER_REFRESH = READINGS_PER_REFRESH + STATUSES_PER_REFRESH
CPU_DEVICES = 1000
RUNS = 3
# Peak RSS may differ between two processes by what each imports and caches; beyond this, it
# grows with the input.
FLAT = 1.25


class Project(Protocol):
    root: Path
    python: Path

    def fresh_database(self, part: str) -> str: ...

    def manage(self, database_url: str, *arguments: str, **variables: str) -> str: ...


def measure(
    default: Project,
    scheduler: Project,
    parts: set[str],
    environment: Callable[..., dict[str, str]],
    measured: dict,
) -> dict:
    """The figures of the chosen parts; `measured` holds those of the parts already run."""
    figures: dict = {}
    probes = []
    if parts & {"ingest", "projection"}:
        probes.append("ingest")
    if parts & {"reads", "projection"}:
        probes += ["load", "reads"]
    if probes:
        database_url = default.fresh_database("database")
        for probe in probes:
            process = subprocess.run(
                [default.python, PROBE, probe],
                cwd=default.root,
                env=environment(DATABASE_URL=database_url),
                stdout=subprocess.PIPE,
                text=True,
            )
            if process.returncode != 0:
                sys.exit(f"the database probe failed ({probe})")
            figures |= json.loads(process.stdout)
    if "projection" in parts:
        # The refresh rows' worker figure when they ran in this invocation (a per-device
        # vendor, the costlier kind); else run_job's, measured here.
        worker = worker_cpu_per_device_refresh(measured)
        figures["cpu_measured_here"] = worker is None
        figures["cpu_seconds_per_device_refresh"] = (
            cpu_per_device_refresh(scheduler) if worker is None else worker
        )
    return figures


def cpu_seconds(work: Callable[[], object]) -> float:
    """User and system CPU of the child processes `work` ran and waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    work()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_per_device_refresh(project: Project) -> float:
    """The CPU `run_job refresh_all` spends per device, start-up taken out: the same command
    over 1,000 devices and over none, medians of 3. The vendor answers at once, so CPU is all
    there is; PostgreSQL's own CPU is not counted."""
    print(
        f"CPU per device-refresh: run_job refresh_all over {CPU_DEVICES:,} devices and none",
        flush=True,
    )
    # A new reading every second: each run stores new rows, as a refresh in service does.
    vendor = {"SIMULATOR_LATENCY": "0", "SIMULATOR_READING_PERIOD": "1"}
    empty = project.fresh_database("cpu_empty")
    fleet = project.fresh_database("cpu_fleet")
    project.manage(fleet, "seed_demo", "--devices", str(CPU_DEVICES), "--history-days", "0")
    idle, busy = [], []
    for _ in range(RUNS):
        idle.append(cpu_seconds(lambda: project.manage(empty, "run_job", "refresh_all", **vendor)))
        busy.append(cpu_seconds(lambda: project.manage(fleet, "run_job", "refresh_all", **vendor)))
    return (statistics.median(busy) - statistics.median(idle)) / CPU_DEVICES


def projection(f: dict) -> dict:
    """A fleet of 100,000 devices, on paper, from the costs measured per device."""
    refreshes_per_day = 86_400 / f["monitor_interval_s"]
    bytes_per_refresh = (
        READINGS_PER_REFRESH * f["attribute_bytes_per_row"]
        + STATUSES_PER_REFRESH * f["status_bytes_per_row"]
    )
    rows_per_day = PROJECTED_DEVICES * refreshes_per_day * ROWS_PER_REFRESH
    bytes_per_day = PROJECTED_DEVICES * refreshes_per_day * bytes_per_refresh
    return {
        "cpu_per_round_s": PROJECTED_DEVICES * f["cpu_seconds_per_device_refresh"],
        "rows_per_s": rows_per_day / 86_400,
        "rows_per_day": rows_per_day,
        "gb_per_day": bytes_per_day / 1e9,
        "gb_after_retention": bytes_per_day * f["retention_days"] / 1e9,
    }


def rows(f: dict, parts: set[str], row: Callable[..., dict]) -> list[dict]:
    copy = "COPY, same run"
    lateral = "LATERAL per (device, name) on the unique index, unpartitioned copy, same run"
    table = []
    if "ingest" in parts:
        table += [
            row("ingest, poll batches: a reading of every device (rows/s)", f["poll_rows_per_s"],
                f["copy_rows_per_s"], copy),
            row("ingest, backfill of 1M readings (rows/s)", f["backfill_rows_per_s"],
                f["copy_rows_per_s"], copy, ">= 0.5x COPY",
                f["backfill_rows_per_s"] >= 0.5 * f["copy_rows_per_s"]),
            row("peak RSS, backfill of 1M readings (MB)", f["backfill_1m_peak_rss_mb"]),
        ]  # fmt: skip
    if "reads" in parts:
        table += [
            row("peak RSS, backfill of 5M readings (MB)", f["backfill_5m_peak_rss_mb"],
                f.get("backfill_1m_peak_rss_mb"), "the 1M backfill", "flat as the input grows",
                f["backfill_5m_peak_rss_mb"] <= FLAT * f["backfill_1m_peak_rss_mb"]
                if "backfill_1m_peak_rss_mb" in f else None),
            row("latest reading of every device, query (ms)", f["latest_query_ms"],
                f["latest_lateral_ms"], lateral, "faster than LATERAL",
                f["latest_query_ms"] < f["latest_lateral_ms"]),
            row("latest reading, 2016 schema + DISTINCT ON (ms)", f["latest_distinct_on_ms"],
                f["latest_lateral_ms"], lateral, "context only"),
            row("latest reading of every device, endpoint (ms)", f["latest_endpoint_ms"], 50.0,
                "target", "<= 50 ms", f["latest_endpoint_ms"] <= 50),
            row("history for a chart: 30 days, hourly, API (ms)", f["history_ms"], 20.0,
                "target", "<= 20 ms", f["history_ms"] <= 20),
            row("machine load during the reads (1-minute load average)",
                f["reads_load_average"], f["cores"], "cores"),
        ]  # fmt: skip
    if "projection" in parts:
        p = projection(f)
        interval = f"{f['monitor_interval_s']} s interval, one core"
        cpu = "CPU per device-refresh (ms), " + (
            "run_job, start-up taken out" if f["cpu_measured_here"] else "the refresh rows' worker"
        )
        table += [
            row(cpu, f["cpu_seconds_per_device_refresh"] * 1000),
            row("100,000 devices: CPU per round (s)", p["cpu_per_round_s"],
                f["monitor_interval_s"], interval),
            row("100,000 devices: readings to store (rows/s)", p["rows_per_s"],
                f["poll_rows_per_s"], "poll ingest, measured above"),
            row("100,000 devices: rows a day", p["rows_per_day"]),
            row("100,000 devices: GB a day (rows and indexes)", p["gb_per_day"]),
            row(f"100,000 devices: GB after {f['retention_days']} days' retention",
                p["gb_after_retention"]),
        ]  # fmt: skip
    return table
