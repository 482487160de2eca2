"""The `exports` part of `make bench`: an export of every reading of 100 devices, written as a
worker writes it (observations.exports.write_parts, a part at a time into the database) and
downloaded as the web process streams it, at 100,000 and at 1,000,000 readings.

Run alone: `python -m bench.exports` (bakes the default project; needs PostgreSQL on
127.0.0.1). Each side runs in a process of its own, which reports its peak RSS: the worker's
and the web process's memory should not grow with the export. The reference is PostgreSQL's own
`COPY (SELECT ...) TO STDOUT WITH CSV` of the same rows, in the same order, read by psycopg:
the database writing CSV with no Python in the way, a limit no export in Python can beat.
"""

from __future__ import annotations

import json
import statistics
import time

import psycopg

from .__main__ import RUNS, Project
from .common import say

DEVICES = 100
SIZES = (100_000, 1_000_000)
NAMES = ("power", "temperature")

# In the baked project's shell: export every device's readings, then download the file, each
# timed, and the process's peak RSS after each (Linux reports it in KiB).
EXPORT_AND_DOWNLOAD = """
import json, resource, time
from datetime import datetime, timedelta, UTC
from django.contrib.auth import get_user_model
from iot_monitor.devices.models import Device
from iot_monitor.observations import exports
from iot_monitor.observations.models import Export

owner, _ = get_user_model().objects.get_or_create(username="bench", is_staff=True)
Export.objects.all().delete()
wanted = exports.Wanted(
    list(Device.objects.order_by("pk").values_list("pk", flat=True)),
    [],
    datetime(2000, 1, 1, tzinfo=UTC),
    datetime(2100, 1, 1, tzinfo=UTC),
)
export, _ = exports.find_or_create(owner, wanted)
started = time.perf_counter()
while not exports.write_parts(export.pk, seconds=3600):
    pass
written = time.perf_counter() - started
worker_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
export.refresh_from_db()
started = time.perf_counter()
size = sum(len(text) for text in exports.download(export))
downloaded = time.perf_counter() - started
print(json.dumps({
    "rows": export.rows,
    "bytes": size,
    "write_s": written,
    "download_s": downloaded,
    "worker_mb": worker_kib / 1024,
    "process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

REFERENCE = (
    "COPY (SELECT a.device_id, d.name, a.name, a.value, a.units, a.valid_at "
    "FROM observations_attribute a JOIN devices_device d ON d.id = a.device_id "
    "ORDER BY a.device_id, a.name, a.valid_at) TO STDOUT WITH CSV"
)


def load_readings(database_url: str, count: int) -> None:
    """`count` readings spread over DEVICES devices and NAMES, a minute apart, by COPY."""
    per_series = count // (DEVICES * len(NAMES))
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("TRUNCATE observations_attribute, observations_latestattribute")
        devices = [
            pk
            for (pk,) in connection.execute(
                "SELECT id FROM devices_device ORDER BY id LIMIT %s", [DEVICES]
            )
        ]
        connection.execute(
            "INSERT INTO observations_attribute (device_id, name, value, units, valid_at, "
            "recorded_at) SELECT device, name, minute %% 100, 'u', "
            "timestamptz '2026-01-01' + minute * interval '1 minute', now() "
            "FROM unnest(%s::bigint[]) AS device, unnest(%s::text[]) AS name, "
            "generate_series(0, %s - 1) AS minute",
            [devices, list(NAMES), per_series],
        )
        connection.execute("VACUUM ANALYZE observations_attribute")


def copy_seconds(database_url: str) -> float:
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(REFERENCE) as copy:
            for _ in copy:
                pass
        return time.perf_counter() - started


def measure(project: Project) -> dict:
    database_url = project.fresh_database("exports")
    project.manage(database_url, "seed_demo", "--devices", str(DEVICES), "--history-days", "0")
    figures: dict = {}
    for size in SIZES:
        say(f"exports: {size:,} readings")
        load_readings(database_url, size)
        runs = [
            json.loads(project.manage(database_url, "shell", "-v", "0", "-c", EXPORT_AND_DOWNLOAD))
            for _ in range(RUNS)
        ]
        reference = statistics.median(copy_seconds(database_url) for _ in range(RUNS))
        label = f"{size // 1000}k"
        figures |= {
            f"export_{label}_rows": runs[0]["rows"],
            f"export_{label}_write_s": statistics.median(run["write_s"] for run in runs),
            f"export_{label}_download_s": statistics.median(run["download_s"] for run in runs),
            f"export_{label}_copy_s": reference,
            f"export_{label}_worker_mb": max(run["worker_mb"] for run in runs),
            f"export_{label}_process_mb": max(run["process_mb"] for run in runs),
        }
    return figures


if __name__ == "__main__":
    project = Project("exports")
    try:
        for name, value in measure(project).items():
            print(f"{name}: {value:,.2f}" if isinstance(value, float) else f"{name}: {value:,}")
    finally:
        project.drop_databases()
