"""Partition figures, measured inside a baked project: python probes/partitions.py (cwd: the
project, on a PostgreSQL database of its own). Prints one JSON object; says how far it got on
stderr.

BENCH_PARTITION_ROWS readings (50M unless set) of 1,000 devices and 2 names, spread evenly over
the retention window and the RUNS days before it, go into the partitioned readings table by
COPY, a day at a time. The same rows are then copied into an unpartitioned table as the
readings table was before partitions (same columns, indexes, foreign key and latest-reading
trigger): the reference, in the same database, measured in the same run. On both:
- the reads of the `reads` part (probes/database.py, reused), on the partitioned table;
- ingest, poll batches and a backfill, each side in turn, by renaming the reference into the
  readings table's place while it is measured;
- retention: the project's prune of one day past the window (a partition dropped) against a
  DELETE of the same rows from the reference, without and then with a BRIN index on valid_at;
  then each table's size before and after (and after a VACUUM, for the reference).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import database as reads  # probes/database.py: its setup, devices, COPY and reads
from django.conf import settings
from django.db import connection
from django.utils import timezone

partitions = __import__(f"{reads.SLUG}.observations.partitions", fromlist=["*"])
ingest = reads.ingest

ROWS = int(os.environ.get("BENCH_PARTITION_ROWS", "50000000"))
RUNS = 3
POLLS = 5
BACKFILL_PER_SERIES = 100
TABLE = "observations_attribute"
REFERENCE = "bench_unpartitioned"
DAY = timedelta(days=1)
GB = 1e9
PROGRESS_EVERY_S = 15


def execute(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def table_bytes(table: str) -> int:
    """Table, TOAST and indexes; a partitioned table's are its partitions'."""
    ((size,),) = execute(
        "SELECT COALESCE(sum(pg_total_relation_size(relid)), pg_total_relation_size(%s)) "
        "FROM pg_partition_tree(%s)",
        [table, table],
    )
    return int(size)


def day_of_readings(device_ids: list[int], day: datetime, per_series: int) -> Iterator:
    """A day of readings as a fleet sends them: every device at each moment."""
    step = DAY / per_series
    for i in range(per_series):
        valid_at = day + step * i
        for device_id in device_ids:
            for name in reads.NAMES:
                yield ingest.AttributeRow(device_id, name, 20.0 + (i % 97) / 10, "x", valid_at)


def load(device_ids: list[int], days: list[datetime], per_series: int) -> dict:
    total = len(days) * per_series * len(device_ids) * len(reads.NAMES)
    reads.say(f"load: {total:,} readings by COPY, {len(days)} days of {per_series} per series")
    started = shown = time.perf_counter()
    for n, day in enumerate(days, 1):
        # A COPY a day: each fires the latest-reading trigger once, over one day's rows.
        reads.copy_rows(TABLE, day_of_readings(device_ids, day, per_series))
        elapsed = time.perf_counter() - started
        if time.perf_counter() - shown >= PROGRESS_EVERY_S or n == len(days):
            shown = time.perf_counter()
            done = total * n // len(days)
            left = elapsed / n * (len(days) - n)
            reads.say(
                f"  {done:,} / {total:,} readings ({done / total:.0%}), "
                f"{done / elapsed:,.0f} rows/s, {left / 60:.1f} min left"
            )
    seconds = time.perf_counter() - started
    return {
        "partition_rows": total,
        "partition_load_s": seconds,
        "partition_load_rows_per_s": total / seconds,
    }


def make_reference() -> float:
    """The unpartitioned copy: same rows, the table as it was before partitions (its primary
    key, unique index, foreign key and trigger)."""
    reads.say(f"reference: the same rows into {REFERENCE}, then its indexes")
    started = time.perf_counter()
    execute("SET maintenance_work_mem = '512MB'")
    execute(f"CREATE TABLE {REFERENCE} (LIKE {TABLE} INCLUDING DEFAULTS)")
    execute(f"INSERT INTO {REFERENCE} SELECT * FROM {TABLE}")
    execute(f"ALTER TABLE {REFERENCE} ADD PRIMARY KEY (id)")
    execute(f"CREATE UNIQUE INDEX {REFERENCE}_reading ON {REFERENCE} (device_id, name, valid_at)")
    execute(
        f"ALTER TABLE {REFERENCE} ADD FOREIGN KEY (device_id) REFERENCES devices_device (id) "
        "DEFERRABLE INITIALLY DEFERRED"
    )
    execute(
        f"CREATE TRIGGER {REFERENCE}_keeps_latest AFTER INSERT ON {REFERENCE} "
        "REFERENCING NEW TABLE AS new_readings FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {TABLE}_keep_latest()"
    )
    for table in (TABLE, REFERENCE):
        execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


@contextmanager
def in_place_of_readings(table: str) -> Iterator[None]:
    """Make `table` the one ingest writes to, for a while."""
    if table == TABLE:
        yield
        return
    execute(f"ALTER TABLE {TABLE} RENAME TO bench_partitioned")
    execute(f"ALTER TABLE {table} RENAME TO {TABLE}")
    try:
        yield
    finally:
        execute(f"ALTER TABLE {TABLE} RENAME TO {table}")
        execute(f"ALTER TABLE bench_partitioned RENAME TO {TABLE}")


def ingest_rates(device_ids: list[int], day: datetime, now: datetime) -> dict:
    """Poll batches (store_attributes, at new moments near now) and a backfill
    (backfill_attributes, new moments of a day inside the window), each side in turn."""
    reads.say("ingest: poll batches and a backfill, partitioned and unpartitioned in turn")
    rates: dict[str, list[float]] = {}
    series = len(device_ids) * len(reads.NAMES)
    for run in range(RUNS):
        for side, table in (("partitioned", TABLE), ("unpartitioned", REFERENCE)):
            # Moments no reading has: a microsecond apart for each run and side.
            offset = timedelta(microseconds=1 + run * 2 + (side == "unpartitioned"))
            with in_place_of_readings(table):
                started = time.perf_counter()
                for poll in range(POLLS):
                    taken = now + timedelta(seconds=poll) + offset
                    ingest.store_attributes(
                        ingest.AttributeRow(device_id, name, 21.5, "x", taken)
                        for device_id in device_ids
                        for name in reads.NAMES
                    )
                rates.setdefault(f"poll_{side}", []).append(
                    POLLS * series / (time.perf_counter() - started)
                )
                backfill = (
                    ingest.AttributeRow(row.device_id, row.name, row.value, row.units,
                                        row.valid_at + offset)
                    for row in day_of_readings(device_ids, day, BACKFILL_PER_SERIES)
                )  # fmt: skip
                started = time.perf_counter()
                new = ingest.backfill_attributes(backfill)
                rates.setdefault(f"backfill_{side}", []).append(
                    new / (time.perf_counter() - started)
                )
                assert new == BACKFILL_PER_SERIES * series, f"the backfill stored {new:,}"
        reads.say(
            f"  run {run + 1}/{RUNS}: "
            + ", ".join(f"{key} {values[-1]:,.0f} rows/s" for key, values in rates.items())
        )
    return {f"ingest_{key}_rows_per_s": statistics.median(v) for key, v in rates.items()}


def prune(days: list[datetime]) -> dict:
    """Each run prunes the oldest day left: the project's prune_readings drops its partition,
    a DELETE removes the same rows from the reference. The first RUNS delete from the table as
    it was before partitions, where nothing leads to valid_at; the next RUNS, with a BRIN
    index on valid_at added, as the partitions have: the best an unpartitioned table does."""
    reads.say("prune: a day past the window, dropped and deleted")
    before = {TABLE: table_bytes(TABLE), REFERENCE: table_bytes(REFERENCE)}
    timings: dict[str, list[float]] = {"drop": [], "delete": [], "delete_brin": []}
    for run in range(2 * RUNS):
        if run == RUNS:
            execute(f"CREATE INDEX {REFERENCE}_valid_at ON {REFERENCE} USING brin (valid_at)")
        reference = "delete" if run < RUNS else "delete_brin"
        cutoff = days[run] + DAY
        started = time.perf_counter()
        pruned = partitions.prune_readings(cutoff)
        timings["drop"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {REFERENCE} WHERE valid_at < %s", [cutoff])
            count = cursor.rowcount
        timings[reference].append((time.perf_counter() - started) * 1000)
        # A partition of each readings table (the statuses' is empty here), dropped whole:
        # none of the rows the reference deleted is left, and none was deleted one by one.
        assert (pruned.rows, pruned.partitions) == (0, 2), (pruned, count)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE valid_at < %s", [cutoff])
            assert cursor.fetchone() == (0,)
        reads.say(
            f"  run {run + 1}/{2 * RUNS}: {count:,} rows: dropped in {timings['drop'][-1]:,.0f} "
            f"ms, deleted in {timings[reference][-1]:,.0f} ms ({reference})"
        )
    after = {TABLE: table_bytes(TABLE), REFERENCE: table_bytes(REFERENCE)}
    unlink_ms = statistics.median(file_deletion_ms(pruned.partition_bytes) for _ in range(RUNS))
    started = time.perf_counter()
    execute(f"VACUUM {REFERENCE}")
    vacuum_s = time.perf_counter() - started
    return {
        "prune_rows": count,
        **{f"prune_{key}_ms": statistics.median(values) for key, values in timings.items()},
        "prune_vacuum_s": vacuum_s,
        "prune_partition_mb": pruned.partition_bytes / 1e6,
        "prune_unlink_ms": unlink_ms,
        "partitioned_gb_before": before[TABLE] / GB,
        "partitioned_gb_after": after[TABLE] / GB,
        "unpartitioned_gb_before": before[REFERENCE] / GB,
        "unpartitioned_gb_after": after[REFERENCE] / GB,
        "unpartitioned_gb_after_vacuum": table_bytes(REFERENCE) / GB,
    }


def file_deletion_ms(size: int) -> float:
    """Milliseconds to delete a file of `size` bytes, written and flushed to disk first: the
    floor of a partition's drop, whose files the database deletes as the drop commits. The
    file is written beside the project, on this machine's disk, as the database's are here."""
    with tempfile.NamedTemporaryFile(dir=".", delete=False) as file:
        chunk = os.urandom(1 << 20)
        for _ in range(size // len(chunk) + 1):
            file.write(chunk)
        file.flush()
        os.fsync(file.fileno())
    started = time.perf_counter()
    os.unlink(file.name)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    device_ids = reads.devices()
    now = timezone.now()
    kept = settings.OBSERVATION_RETENTION_DAYS
    today = partitions.partition_start(now, DAY)
    # The window's days, and 2 * RUNS days before it to prune; a day's partition each.
    days = [today - DAY * (kept + 2 * RUNS - n) for n in range(kept + 2 * RUNS)]
    width = partitions.partition_width(kept)
    for table in partitions.READINGS_TABLES:
        partitions.cover(table, days[0], now + partitions.AHEAD, width)
    per_series = max(1, ROWS // (len(days) * len(device_ids) * len(reads.NAMES)))
    figures = load(device_ids, days, per_series)
    figures["partition_reference_s"] = make_reference()
    chart_start = today - 30 * DAY
    figures |= {
        f"partitioned_{key}": value
        for key, value in reads.read_figures(
            device_ids,
            chart_start,
            per_series * 30,
            with_2016_schema=False,
            lateral_on_copies=False,
        ).items()
    }
    figures |= ingest_rates(device_ids, days[len(days) // 2], now)
    figures |= prune(days)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
