"""Database figures, measured inside a baked project: python probes/database.py PART
(cwd: the project), PART one of ingest, load, reads, in that order on one database.

Prints one JSON object. Every timing is the median of several runs; each comparison runs both
sides here, on the same data, so that ratios hold on a noisy machine. Each part runs in a
process of its own, so that its peak RSS is its own, and the reads are timed in a process like
a server's, not one that has just stored millions of readings.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

# As in production: with DEBUG on, Django keeps every statement it runs, arrays of 20,000
# readings included, and that log, not ingest, would be what a run's memory measures.
settings.DEBUG = False

SLUG = os.environ["BENCH_SLUG"]
ingest = __import__(f"{SLUG}.observations.ingest", fromlist=["*"])
queries = __import__(f"{SLUG}.observations.queries", fromlist=["*"])
Device = __import__(f"{SLUG}.devices.models", fromlist=["Device"]).Device

DEVICES = int(os.environ.get("BENCH_DEVICES", "1000"))
READINGS_PER_NAME = int(os.environ.get("BENCH_READINGS_PER_NAME", "2500"))
STATUSES_PER_DEVICE = int(os.environ.get("BENCH_STATUSES_PER_DEVICE", "250"))
BACKFILL_ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS", "1000000"))
POLLS = 5
NAMES = ("power", "temperature")
# 2,500 readings a name spread over 30 days: a month of history for the chart.
SPAN = timedelta(days=30)
START = datetime(2026, 1, 1, tzinfo=UTC)
COPY_CHUNK = 20_000
TABLES = ("observations_attribute", "observations_latestattribute")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def medians_ms(*works: Callable[[], object], runs: int) -> list[float]:
    """The median time of each piece of work, their runs taken in turn, so that a busy moment
    of the machine falls on every side alike."""
    timings: list[list[float]] = [[] for _ in works]
    for _ in range(runs):
        for work, taken in zip(works, timings, strict=True):
            started = time.perf_counter()
            work()
            taken.append((time.perf_counter() - started) * 1000)
    return [statistics.median(taken) for taken in timings]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def devices() -> list[int]:
    """The bench's devices, each listing the two names it reports, as a vendor's list would."""
    existing = Device.objects.count()
    Device.objects.bulk_create(
        [
            Device(
                name=f"Bench {i}",
                vendor="simulator",
                vendor_device_id=f"bench-{i:05d}",
                reading_names=list(NAMES),
            )
            for i in range(existing, DEVICES)
        ]
    )
    return list(Device.objects.order_by("pk").values_list("pk", flat=True))[:DEVICES]


def history(device_ids: list[int], per_name: int) -> Iterator[ingest.AttributeRow]:
    """Each device's history in turn, as a backfill imports it."""
    step = SPAN / per_name
    for device_id in device_ids:
        for name in NAMES:
            for i in range(per_name):
                yield ingest.AttributeRow(
                    device_id, name, 20.0 + (i % 97) / 10, "x", START + step * i
                )


def as_polled(device_ids: list[int], per_name: int) -> Iterator[ingest.AttributeRow]:
    """The same readings in the order a running fleet stores them: every device at each
    moment, so that a device's readings lie scattered over the table as they do in service."""
    step = SPAN / per_name
    for i in range(per_name):
        valid_at = START + step * i
        for device_id in device_ids:
            for name in NAMES:
                yield ingest.AttributeRow(device_id, name, 20.0 + (i % 97) / 10, "x", valid_at)


def truncate(*tables: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def copy_rows(table: str, rows: Iterable[ingest.AttributeRow]) -> None:
    """COPY, the practical limit for getting rows into a table; streamed, as ingest is."""
    recorded = datetime.now(UTC).isoformat()
    iterator = iter(rows)
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(
            f"COPY {table} (device_id, name, value, units, valid_at, recorded_at) FROM STDIN"
        ) as copy,
    ):
        while chunk := list(islice(iterator, COPY_CHUNK)):
            copy.write(
                "".join(
                    f"{device_id}\t{name}\t{value}\t{units}\t{valid_at.isoformat()}\t{recorded}\n"
                    for device_id, name, value, units, valid_at in chunk
                )
            )


def poll_rate(device_ids: list[int]) -> float:
    """store_attributes, the refresh jobs' path, with one poll of every device at a time."""
    truncate(*TABLES)
    started = time.perf_counter()
    for n in range(POLLS):
        taken = START + timedelta(minutes=n)
        ingest.store_attributes(
            ingest.AttributeRow(device_id, name, 21.5, "x", taken)
            for device_id in device_ids
            for name in NAMES
        )
    return POLLS * len(device_ids) * len(NAMES) / (time.perf_counter() - started)


def ingest_figures(device_ids: list[int]) -> dict:
    say("ingest: poll batches, backfill and COPY")
    polls = [poll_rate(device_ids) for _ in range(5)]
    per_name = max(1, BACKFILL_ROWS // (len(device_ids) * len(NAMES)))
    total = len(device_ids) * len(NAMES) * per_name
    backfill_rates, copy_rates = [], []
    for run in range(3):
        # Each side starts from empty tables, the latest readings (kept by a trigger) included.
        truncate(*TABLES)
        started = time.perf_counter()
        new = ingest.backfill_attributes(history(device_ids, per_name))
        backfill_rates.append(total / (time.perf_counter() - started))
        assert new == total, f"the backfill stored {new:,} of {total:,} readings"
        if run == 0:
            again = ingest.backfill_attributes(history(device_ids, per_name))
            assert again == 0, f"a second backfill added {again:,} rows"
        truncate(*TABLES)
        started = time.perf_counter()
        copy_rows("observations_attribute", history(device_ids, per_name))
        copy_rates.append(total / (time.perf_counter() - started))
        say(
            f"  run {run + 1}/3: backfill {backfill_rates[-1]:,.0f} rows/s, "
            f"COPY {copy_rates[-1]:,.0f} rows/s"
        )
    truncate(*TABLES)
    return {
        "poll_rows": POLLS * len(device_ids) * len(NAMES),
        "poll_rows_per_s": statistics.median(polls),
        "backfill_rows": total,
        "backfill_rows_per_s": statistics.median(backfill_rates),
        "copy_rows_per_s": statistics.median(copy_rates),
        "backfill_1m_peak_rss_mb": peak_rss_mb(),
    }


def load_figures(device_ids: list[int]) -> dict:
    """The reads' data, stored through backfill_* in a process of its own: its peak RSS is
    that of a 5M-reading backfill. Then vacuumed and analyzed, as a database in service is."""
    total = len(device_ids) * len(NAMES) * READINGS_PER_NAME
    say(f"load: {total:,} readings and {STATUSES_PER_DEVICE:,} statuses a device, by backfill")
    truncate(*TABLES, "observations_status", "observations_lateststatus")
    started = time.perf_counter()
    stored = ingest.backfill_attributes(as_polled(device_ids, READINGS_PER_NAME))
    seconds = time.perf_counter() - started
    assert stored == total, f"the load stored {stored:,} of {total:,} readings"
    step = SPAN / STATUSES_PER_DEVICE
    statuses = ingest.backfill_statuses(
        ingest.StatusRow(device_id, i % 2 == 0, "on" if i % 2 == 0 else "off", START + step * i)
        for i in range(1, STATUSES_PER_DEVICE + 1)
        for device_id in device_ids
    )
    with connection.cursor() as cursor:
        # Vacuumed, so that autovacuum does not start on the new rows while the reads are
        # timed, and analyzed.
        for table in (*TABLES, "observations_status", "observations_lateststatus"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        # What a row costs on disk: table, TOAST and every index, over the rows it holds. The
        # readings tables are partitioned, and hold nothing themselves: their partitions do.
        size = "SELECT sum(pg_total_relation_size(relid))::bigint FROM pg_partition_tree(%s)"
        cursor.execute(size, ["observations_attribute"])
        (attribute_bytes,) = cursor.fetchone()
        cursor.execute(size, ["observations_status"])
        (status_bytes,) = cursor.fetchone()
    return {
        "rows": stored,
        "load_rows_per_s": stored / seconds,
        "backfill_5m_rows": stored,
        "backfill_5m_peak_rss_mb": peak_rss_mb(),
        "attribute_bytes_per_row": attribute_bytes / stored,
        "status_bytes_per_row": status_bytes / statuses,
    }


# The competitor a good engineer writes on this schema: for each device, each name it lists,
# the newest row found by the (device, name, valid_at) unique index; the newest status by the
# (device, valid_at) one. Same data, same connection, same Python values out. On PostgreSQL the
# readings tables are partitioned by day, and a LATERAL lookup there descends into every
# partition (about a hundred); the competitor reads unpartitioned copies of them instead,
# with the same indexes: the best it can do.
LATERAL_ATTRIBUTES = """
    SELECT d.id, n.name, a.value, a.units, a.valid_at
    FROM devices_device d
    CROSS JOIN LATERAL jsonb_array_elements_text(d.reading_names) AS n(name)
    CROSS JOIN LATERAL (
        SELECT value, units, valid_at FROM {attributes}
        WHERE device_id = d.id AND name = n.name ORDER BY valid_at DESC LIMIT 1
    ) a
    ORDER BY d.id, n.name
"""
LATERAL_STATUSES = """
    SELECT d.id, s.is_on, s.state, s.valid_at
    FROM devices_device d
    CROSS JOIN LATERAL (
        SELECT is_on, state, valid_at FROM {statuses}
        WHERE device_id = d.id ORDER BY valid_at DESC LIMIT 1
    ) s
"""


READINGS_TABLES = ("observations_attribute", "observations_status")
LATERAL_TABLES = ("bench_lateral_attribute", "bench_lateral_status")


def unpartitioned_copies() -> tuple[str, str]:
    """The readings tables copied into plain tables with their indexes, vacuumed, analyzed;
    return the copies' names."""
    with connection.cursor() as cursor:
        for table, copy in zip(READINGS_TABLES, LATERAL_TABLES, strict=True):
            cursor.execute(f"DROP TABLE IF EXISTS {copy}")
            cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING INDEXES)")
            cursor.execute(f"INSERT INTO {copy} SELECT * FROM {table}")
            cursor.execute(f"VACUUM (ANALYZE) {copy}")
    return LATERAL_TABLES


def lateral_latest(attributes: str, statuses: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(LATERAL_STATUSES.format(statuses=statuses))
        latest = {
            device_id: queries.LatestReadings(status=queries.StatusReading(is_on, state, at))
            for device_id, is_on, state, at in cursor.fetchall()
        }
        cursor.execute(LATERAL_ATTRIBUTES.format(attributes=attributes))
        for device_id, name, value, units, valid_at in cursor.fetchall():
            if device_id not in latest:
                latest[device_id] = queries.LatestReadings()
            reading = queries.AttributeReading(name, value, units, valid_at)
            latest[device_id].attributes.append(reading)
    return latest


def distinct_on_2016_ms() -> float:
    """The 2016 schema: an index on (valid_at, units, device) and DISTINCT ON. Context only."""
    say("  the 2016 schema with DISTINCT ON")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_reference_attribute")
        cursor.execute(
            "CREATE TABLE bench_reference_attribute AS "
            "SELECT device_id, name AS units, value, valid_at FROM observations_attribute"
        )
        cursor.execute("CREATE INDEX ON bench_reference_attribute (valid_at, units, device_id)")
        cursor.execute("ANALYZE bench_reference_attribute")

        def latest() -> None:
            cursor.execute(
                "SELECT DISTINCT ON (device_id, units) device_id, units, value, valid_at "
                "FROM bench_reference_attribute ORDER BY device_id, units, valid_at DESC"
            )
            cursor.fetchall()

        (timing,) = medians_ms(latest, runs=3)
        cursor.execute("DROP TABLE bench_reference_attribute")
    return timing


def read_figures(
    device_ids: list[int],
    start: datetime = START,
    per_name: int = READINGS_PER_NAME,
    with_2016_schema: bool = True,
    lateral_on_copies: bool = True,
) -> dict:
    """The reads, with a chart of the 30 days from `start`, over which each device has
    `per_name` readings of each name (the partitions probe passes its own, and has the LATERAL
    competitor read the partitioned tables themselves rather than copy 50M readings)."""
    say(f"reads: {len(device_ids):,} devices, {per_name * len(NAMES):,} readings each")
    everyone = Device.objects.all()
    project = queries.latest_for_devices(everyone)
    lateral = unpartitioned_copies() if lateral_on_copies else READINGS_TABLES
    assert lateral_latest(*lateral) == project, "the LATERAL reference read other readings"
    assert len(project) == len(device_ids)
    query_ms, lateral_ms = medians_ms(
        lambda: queries.latest_for_devices(everyone), lambda: lateral_latest(*lateral), runs=9
    )

    staff = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client(HTTP_HOST="127.0.0.1")  # a host local settings allow
    client.force_login(staff)

    def endpoint() -> None:
        response = client.get("/api/latest/")
        assert response.status_code == 200 and len(response.json()) == len(device_ids)

    endpoint()  # warm caches: connections, URL resolver
    (endpoint_ms,) = medians_ms(endpoint, runs=9)
    since, until = start.isoformat(), (start + SPAN).isoformat()

    def chart() -> None:
        response = client.get(
            f"/api/devices/{device_ids[0]}/history/",
            {"name": "temperature", "bucket": "1h", "since": since, "until": until},
        )
        assert response.status_code == 200, response.content
        # 30 days of hours, or fewer when readings are sparser than hourly.
        assert abs(len(response.json()["buckets"]) - min(720, per_name)) <= 2

    chart()
    (history_ms,) = medians_ms(chart, runs=9)
    figures = {
        "latest_query_ms": query_ms,
        "latest_lateral_ms": lateral_ms,
        "latest_endpoint_ms": endpoint_ms,
        "history_ms": history_ms,
        # A shared machine's other work slows every figure above; the ratios less so.
        "reads_load_average": os.getloadavg()[0],
        "cores": os.cpu_count(),
        "monitor_interval_s": settings.MONITOR_INTERVAL_SECONDS,
        "retention_days": settings.OBSERVATION_RETENTION_DAYS,
    }
    if with_2016_schema:
        figures["latest_distinct_on_ms"] = distinct_on_2016_ms()
    return figures


PARTS = {"ingest": ingest_figures, "load": load_figures, "reads": read_figures}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in PARTS:
        sys.exit(f"usage: database.py {'|'.join(PARTS)}")
    print(json.dumps(PARTS[sys.argv[1]](devices())))


if __name__ == "__main__":
    main()
