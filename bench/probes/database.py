"""Database figures, measured inside a baked project: python probes/database.py ingest|reads
(cwd: the project).

Prints one JSON object. Every timing is the median of several runs; each comparison runs both
sides here, on the same data, so that ratios hold on a noisy machine.
"""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

SLUG = os.environ["BENCH_SLUG"]
ingest = __import__(f"{SLUG}.observations.ingest", fromlist=["*"])
queries = __import__(f"{SLUG}.observations.queries", fromlist=["*"])
Device = __import__(f"{SLUG}.devices.models", fromlist=["Device"]).Device

DEVICES = int(os.environ.get("BENCH_DEVICES", "1000"))
READINGS_PER_NAME = int(os.environ.get("BENCH_READINGS_PER_NAME", "2500"))
BACKFILL_ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS", "1000000"))
NAMES = ("power", "temperature")
# 2,500 readings a name spread over 30 days: a month of history for the chart.
SPAN = timedelta(days=30)
START = datetime(2026, 1, 1, tzinfo=UTC)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median_ms(work, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def devices() -> list[int]:
    existing = list(Device.objects.order_by("pk").values_list("pk", flat=True))
    missing = DEVICES - len(existing)
    Device.objects.bulk_create(
        [
            Device(name=f"Bench {i}", vendor="simulator", vendor_device_id=f"bench-{i:05d}")
            for i in range(len(existing), len(existing) + max(missing, 0))
        ]
    )
    return list(Device.objects.order_by("pk").values_list("pk", flat=True))[:DEVICES]


def rows(device_ids, per_name: int, start: datetime = START):
    step = SPAN / per_name
    for device_id in device_ids:
        for name in NAMES:
            for i in range(per_name):
                yield (device_id, name, 20.0 + (i % 97) / 10, "x", start + step * i)


def truncate(*tables: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def copy_rows(table: str, batch) -> None:
    """COPY, the practical limit for getting rows into a table."""
    recorded = datetime.now(UTC).isoformat()
    buffer = io.StringIO()
    for device_id, name, value, units, valid_at in batch:
        buffer.write(f"{device_id}\t{name}\t{value}\t{units}\t{valid_at.isoformat()}\t{recorded}\n")
    buffer.seek(0)
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(
            f"COPY {table} (device_id, name, value, units, valid_at, recorded_at) FROM STDIN"
        ) as copy,
    ):
        while data := buffer.read(1 << 20):
            copy.write(data)


def ingest_figures(device_ids) -> dict:
    say("ingest: poll batches, backfill and COPY")
    table = "observations_attribute"
    # Each side starts from empty tables, the latest readings (kept by a trigger) included.
    tables = (table, "observations_latestattribute")
    # A poll: one reading of each name for every device.
    poll = [
        ingest.AttributeRow(d, name, 21.5, "x", START + timedelta(minutes=n))
        for n in range(5)
        for d in device_ids
        for name in NAMES
    ]
    truncate(*tables)
    started = time.perf_counter()
    for n in range(5):
        batch = poll[n * len(device_ids) * 2 : (n + 1) * len(device_ids) * 2]
        ingest.store_attributes(batch)
    poll_rate = len(poll) / (time.perf_counter() - started)

    per_name = max(1, BACKFILL_ROWS // (len(device_ids) * len(NAMES)))
    backfill = [ingest.AttributeRow(*row) for row in rows(device_ids, per_name)]
    backfill_rates, copy_rates = [], []
    for run in range(3):
        truncate(*tables)
        started = time.perf_counter()
        new = ingest.store_attributes(backfill)
        backfill_rates.append(len(backfill) / (time.perf_counter() - started))
        assert len(new) == len(backfill)
        if run == 0:
            again = ingest.store_attributes(backfill)
            assert again == [], "a second backfill added rows"
        truncate(*tables)
        started = time.perf_counter()
        copy_rows(table, backfill)
        copy_rates.append(len(backfill) / (time.perf_counter() - started))
        say(
            f"  run {run + 1}/3: ingest {backfill_rates[-1]:,.0f} rows/s, "
            f"COPY {copy_rates[-1]:,.0f} rows/s"
        )
    truncate(*tables)
    return {
        "poll_rows": len(poll),
        "poll_rows_per_s": poll_rate,
        "backfill_rows": len(backfill),
        "backfill_rows_per_s": statistics.median(backfill_rates),
        "copy_rows_per_s": statistics.median(copy_rates),
    }


def load_history(device_ids) -> int:
    """1,000 devices x 2 names x 2,500 readings, by COPY, and a status each; then VACUUM.

    COPY fires the trigger that keeps the latest readings, as any insert does."""
    truncate("observations_attribute", "observations_latestattribute")
    ingest.store_statuses(ingest.StatusRow(d, True, "on", START + SPAN) for d in device_ids)
    total = len(device_ids) * len(NAMES) * READINGS_PER_NAME
    chunk = 100
    for start in range(0, len(device_ids), chunk):
        copy_rows(
            "observations_attribute", rows(device_ids[start : start + chunk], READINGS_PER_NAME)
        )
        say(
            f"  loaded {min(start + chunk, len(device_ids)) * len(NAMES) * READINGS_PER_NAME:,}"
            f"/{total:,} rows"
        )
    with connection.cursor() as cursor:
        # As a database in service would be: vacuumed, so that autovacuum does not start on the
        # new rows while the reads are timed, and analyzed.
        for table in ("observations_attribute", "observations_latestattribute", "devices_device"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return total


def reference_latest_ms() -> float:
    """The 2016 schema: an index on (valid_at, units, device) and DISTINCT ON."""
    say("  reference: the 2016 schema with DISTINCT ON")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_reference_attribute")
        cursor.execute(
            "CREATE TABLE bench_reference_attribute AS "
            "SELECT device_id, name AS units, value, valid_at FROM observations_attribute"
        )
        cursor.execute("CREATE INDEX ON bench_reference_attribute (valid_at, units, device_id)")
        cursor.execute("ANALYZE bench_reference_attribute")

        def latest():
            cursor.execute(
                "SELECT DISTINCT ON (device_id, units) device_id, units, value, valid_at "
                "FROM bench_reference_attribute ORDER BY device_id, units, valid_at DESC"
            )
            cursor.fetchall()

        timing = median_ms(latest, runs=3)
        cursor.execute("DROP TABLE bench_reference_attribute")
    return timing


def read_figures(device_ids) -> dict:
    say(
        f"latest readings and history: {len(device_ids):,} devices, "
        f"{READINGS_PER_NAME * len(NAMES):,} rows each"
    )
    rows_loaded = load_history(device_ids)
    everyone = Device.objects.all()
    query_ms = median_ms(lambda: queries.latest_for_devices(everyone))

    staff = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client(HTTP_HOST="127.0.0.1")  # a host local settings allow
    client.force_login(staff)

    def endpoint():
        response = client.get("/api/latest/")
        assert response.status_code == 200 and len(response.json()) == len(device_ids)

    endpoint()  # warm caches: connections, URL resolver
    endpoint_ms = median_ms(endpoint)
    since, until = START.isoformat(), (START + SPAN).isoformat()

    def chart():
        response = client.get(
            f"/api/devices/{device_ids[0]}/history/",
            {"name": "temperature", "bucket": "1h", "since": since, "until": until},
        )
        assert response.status_code == 200, response.content
        # 30 days of hours, or fewer when readings are sparser than hourly.
        assert abs(len(response.json()["buckets"]) - min(720, READINGS_PER_NAME)) <= 2

    chart()
    history_ms = median_ms(chart)
    reference_ms = reference_latest_ms()
    truncate("observations_attribute", "observations_latestattribute")
    return {
        "rows": rows_loaded,
        "latest_query_ms": query_ms,
        "latest_endpoint_ms": endpoint_ms,
        "latest_reference_ms": reference_ms,
        "history_ms": history_ms,
    }


def main() -> None:
    """`ingest` or `reads`: each in a process of its own, so that the reads are timed in a
    process like a server's, not one that has just held a million readings."""
    device_ids = devices()
    if sys.argv[1:] == ["ingest"]:
        figures = {"devices": len(device_ids)} | ingest_figures(device_ids)
        figures["backfill_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elif sys.argv[1:] == ["reads"]:
        figures = read_figures(device_ids)
    else:
        sys.exit("usage: database.py ingest|reads")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
