"""Time partitions of the readings tables, on PostgreSQL; SQLite keeps plain tables.

Each readings table is partitioned by range of valid_at (migration 0004): one partition per day,
or per week when readings are kept longer than PARTITION_BY_WEEK_AFTER_DAYS, and a default
partition for any reading no other partition holds (a vendor's clock in 1970 or 2099), so that
an insert never fails for want of a partition. Retention then costs a DROP TABLE per partition
wholly past the window, and a DELETE inside the one partition the cutoff falls in; the readings
it keeps are never read.

The width is a trade: a DELETE in the boundary partition removes at most one partition's rows
(with daily partitions and a daily prune, the hours of one day), while each partition is one
more table for the planner to consider in a query not bounded in time. Daily partitions keep
about a hundred tables per readings table at the default 90 days; past half a year they would
be several hundred, and a week each keeps the count near fifty per year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from ..counts import Counts
from .models import Attribute, Status

READINGS_TABLES = (Attribute._meta.db_table, Status._meta.db_table)
# Partitions exist at least this far ahead: the job that adds them runs daily, so a week leaves
# six runs that may fail before a reading goes to the default partition (and even then it is
# stored, and moved to its own partition by the next run that succeeds).
AHEAD = timedelta(days=7)
PARTITION_BY_WEEK_AFTER_DAYS = 180
# Partition bounds are counted from a Monday at midnight UTC: a week's partition starts on a
# Monday, a day's at midnight UTC, as history's day buckets do.
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
# A DROP of a partition waits for the queries reading its table; past this, it gives up (the
# job fails and says so) rather than queue every insert behind it.
LOCK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Added(Counts):
    """What a run of add_partitions did: tables it found partitioned, partitions it added,
    and readings it moved from a default partition to their own."""

    tables: int = 0
    partitions: int = 0
    moved: int = 0

    def __str__(self) -> str:
        if not self.tables:
            return "nothing to do: the readings tables are not partitioned (SQLite)"
        moved = f", {self.moved:,} readings moved from the default partitions" if self.moved else ""
        return f"{self.partitions} partitions added{moved}"


@dataclass(frozen=True)
class Pruned(Counts):
    """What a prune of readings did: whole partitions dropped, with the disk space they took,
    and rows deleted one by one. A dropped partition's rows are not counted: counting them
    would read every one, the very work that dropping saves."""

    rows: int = 0
    partitions: int = 0
    partition_bytes: int = 0

    def __str__(self) -> str:
        deleted = f"{self.rows:,} rows deleted"
        if not self.partitions:
            return deleted
        megabytes = self.partition_bytes / 1_000_000
        return f"{self.partitions} partitions dropped ({megabytes:,.1f} MB), {deleted}"


def partition_width(retention_days: int) -> timedelta:
    if retention_days > PARTITION_BY_WEEK_AFTER_DAYS:
        return timedelta(weeks=1)
    return timedelta(days=1)


def partition_start(moment: datetime, width: timedelta) -> datetime:
    """The start of the partition of this width that holds `moment`."""
    return ORIGIN + (moment - ORIGIN) // width * width


def retention_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=settings.OBSERVATION_RETENTION_DAYS)


def is_partitioned(table: str, using: BaseDatabaseWrapper = connection) -> bool:
    if using.vendor != "postgresql":
        return False
    with using.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
            [table],
        )
        (partitioned,) = cursor.fetchone()
    return bool(partitioned)


def partitions(table: str, using: BaseDatabaseWrapper = connection) -> list[Partition]:
    """The table's range partitions, oldest first; the default partition is not among them."""
    with using.cursor() as cursor:
        # The bounds as PostgreSQL prints them, FOR VALUES FROM ('…') TO ('…'), read back in
        # the same session's time zone. Split at the quotes: with a regular expression, the
        # query took twice as long, and a prune reads a hundred partitions a table. MINVALUE
        # and MAXVALUE bounds, which have no quotes, are left out.
        cursor.execute(
            """
            SELECT c.relname, split_part(bound, '''', 2)::timestamptz AS start,
                split_part(bound, '''', 4)::timestamptz
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid,
            pg_get_expr(c.relpartbound, 0) AS bound
            WHERE i.inhparent = %s::regclass AND bound LIKE 'FOR VALUES FROM (''%%'') TO (''%%'')'
            ORDER BY start
            """,
            [table],
        )
        return [Partition(*row) for row in cursor.fetchall()]


def default_partition(table: str) -> str:
    return f"{table}_default"


def add_partitions(now: datetime, using: BaseDatabaseWrapper = connection) -> Added:
    """Add the partitions each readings table lacks from the retention cutoff until AHEAD of
    `now`; nothing on SQLite. Safe to repeat: a run finds what exists and adds only the rest."""
    width = partition_width(settings.OBSERVATION_RETENTION_DAYS)
    added = Added()
    for table in READINGS_TABLES:
        if is_partitioned(table, using):
            added += Added(tables=1)
            added += cover(table, retention_cutoff(now), now + AHEAD, width, using)
    return added


def add_partitions_after_migrate(using: str, **kwargs: object) -> None:
    """At every migrate, as well as daily: a project deployed after days without its
    scheduler starts with the partitions it needs."""
    add_partitions(timezone.now(), connections[using])


def cover(
    table: str,
    since: datetime,
    until: datetime,
    width: timedelta,
    using: BaseDatabaseWrapper = connection,
) -> Added:
    """Add partitions of `width` to `table` until they hold every moment from `since` to
    `until`, each in a transaction of its own.

    The new ones extend the existing range at either end, so partitions never overlap, even
    after the width changed (the first one of the new width ends at its boundary).
    """
    added = Added()
    for start, end in missing_ranges(partitions(table, using), since, until, width):
        with transaction.atomic(using=using.alias), using.cursor() as cursor:
            moved = _attach_partition(cursor, table, start, end)
        added += Added(partitions=1, moved=moved)
    return added


def missing_ranges(
    existing: list[Partition], since: datetime, until: datetime, width: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    if not existing:
        first = partition_start(since, width)
        existing = [Partition("", first, first)]
    end = existing[0].start
    while end > since:
        start = partition_start(end - timedelta(microseconds=1), width)
        yield start, end
        end = start
    start = existing[-1].end
    while start < until:
        end = partition_start(start, width) + width
        yield start, end
        start = end


def _attach_partition(cursor: CursorWrapper, table: str, start: datetime, end: datetime) -> int:
    """Create the partition of [start, end), with the readings the default partition held for
    that range; return how many it took from the default partition."""
    name = f"{table}_p{start:%Y%m%d}"
    default = default_partition(table)
    # The default partition is locked first, so that no reading for the range enters it
    # between the move and the ATTACH, which would then refuse the range.
    cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {default} WHERE valid_at >= %s AND valid_at < %s "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    moved = cursor.rowcount
    # ATTACH, not CREATE ... PARTITION OF: the rows are in place before the range is claimed.
    # It adds the table's indexes, constraints and foreign keys to the partition.
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end]
    )
    return moved


def prune_readings(cutoff: datetime) -> Pruned:
    """Delete the readings taken before `cutoff`, in one transaction.

    On PostgreSQL, a partition that ends by the cutoff is dropped whole, and rows are deleted
    only from the partition the cutoff falls in and from the default partition. On SQLite, a
    DELETE.
    """
    pruned = Pruned()
    with transaction.atomic():
        partitioned = [table for table in READINGS_TABLES if is_partitioned(table)]
        if partitioned:
            pruned += _prune_partitioned(partitioned, cutoff)
        for model in (Attribute, Status):
            if model._meta.db_table not in partitioned:
                count, _ = model.objects.filter(valid_at__lt=cutoff).delete()
                pruned += Pruned(count)
    return pruned


def _prune_partitioned(tables: list[str], cutoff: datetime) -> Pruned:
    """Drop the tables' partitions past the cutoff, all in one statement, and delete the rows
    before it from the others that may hold some: a fixed number of statements, however many
    partitions there are."""
    past, boundary = [], []
    for table in tables:
        for partition in partitions(table):
            if partition.end <= cutoff:
                past.append(partition.name)
            elif partition.start < cutoff:
                boundary.append(partition.name)
    pruned = Pruned()
    with connection.cursor() as cursor:
        # A table is dropped only with no foreign key check pending on it: those of readings
        # stored earlier in this transaction are made now.
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; SET CONSTRAINTS ALL IMMEDIATE")
        if past:
            cursor.execute(
                "SELECT sum(pg_total_relation_size(name::regclass))::bigint "
                "FROM unnest(%s::text[]) name",
                [past],
            )
            (size,) = cursor.fetchone()
            cursor.execute(f"DROP TABLE {', '.join(past)}")
            pruned += Pruned(partitions=len(past), partition_bytes=size)
        for table in boundary + [default_partition(table) for table in tables]:
            pruned += _delete_before(cursor, table, cutoff)
    return pruned


def _delete_before(cursor: CursorWrapper, table: str, cutoff: datetime) -> Pruned:
    # The BRIN index on valid_at reads only the blocks that hold rows before the cutoff.
    cursor.execute(f"DELETE FROM {table} WHERE valid_at < %s", [cutoff])
    return Pruned(cursor.rowcount)
