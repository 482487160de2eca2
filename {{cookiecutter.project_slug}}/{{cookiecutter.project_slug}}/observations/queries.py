"""Reads of observations, kept in one place so that each one can be made fast once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import NotSupportedError, connections, models
from django.db.models import Avg, Count, Max, Min, OuterRef, QuerySet, Subquery

from ..devices.models import Device
from .models import Attribute, Status


@dataclass(frozen=True)
class LatestReadings:
    attributes: list[Attribute]
    status: Status | None


@dataclass(frozen=True)
class HistoryBucket:
    start: datetime
    avg: float
    min: float
    max: float
    count: int


def latest_readings(device: Device) -> LatestReadings:
    """The newest reading of each of a device's attributes, and its newest status."""
    ((_, latest),) = latest_for_devices(Device.objects.filter(pk=device.pk))
    return latest


def latest_for_devices(devices: QuerySet[Device]) -> list[tuple[Device, LatestReadings]]:
    """Each device with the newest reading of each of its attributes and its newest status.

    Three queries however many devices there are, each made of index lookups: the devices,
    their newest statuses, and their newest attributes. Never DISTINCT ON over the readings,
    which reads every row of every device (PostgreSQL has no loose index scan).
    """
    newest_status = Status.objects.filter(device=OuterRef("pk")).order_by("-valid_at")
    devices = list(devices.annotate(newest_status_id=Subquery(newest_status.values("pk")[:1])))
    statuses = Status.objects.in_bulk([d.newest_status_id for d in devices if d.newest_status_id])
    attributes: dict[int, list[Attribute]] = {device.pk: [] for device in devices}
    if devices:
        device_ids = Device.objects.filter(pk__in=[device.pk for device in devices])
        for attribute in _newest_attributes(device_ids):
            attributes[attribute.device_id].append(attribute)
    return [
        (
            device,
            LatestReadings(
                attributes=attributes[device.pk], status=statuses.get(device.newest_status_id)
            ),
        )
        for device in devices
    ]


def _newest_attributes(devices: QuerySet[Device]) -> models.query.RawQuerySet:
    """The newest Attribute of each (device, name), ordered by device and name.

    A recursive query walks the (device, name, valid_at) index from one name of a device to the
    next, one lookup per name: the loose index scan that neither database does by itself. Then
    one more lookup per name finds its newest reading: a LATERAL join on PostgreSQL, whose
    planner may otherwise hash-join the whole table; SQLite always loops, and has no LATERAL.
    """
    # No user input reaches the SQL text: table names, and a compiled queryset with its params.
    devices_sql, params = devices.order_by().values("pk").query.sql_with_params()
    table, device_table = Attribute._meta.db_table, Device._meta.db_table

    def newest(columns: str) -> str:
        return f"""
            SELECT {columns} FROM {table} newest
            WHERE newest.device_id = n.device_id AND newest.name = n.name
            ORDER BY newest.valid_at DESC LIMIT 1
        """

    if connections[devices.db].vendor == "postgresql":
        join = f"CROSS JOIN LATERAL ({newest('*')}) a"
    else:
        join = f"JOIN {table} a ON a.id = ({newest('newest.id')})"
    sql = f"""
        WITH RECURSIVE names (device_id, name) AS (
            SELECT d.id, (
                SELECT CAST(a.name AS TEXT) FROM {table} a
                WHERE a.device_id = d.id ORDER BY a.name LIMIT 1
            )
            FROM {device_table} d
            WHERE d.id IN ({devices_sql})
            UNION ALL
            SELECT n.device_id, (
                SELECT CAST(a.name AS TEXT) FROM {table} a
                WHERE a.device_id = n.device_id AND a.name > n.name ORDER BY a.name LIMIT 1
            )
            FROM names n
            WHERE n.name IS NOT NULL
        )
        SELECT a.* FROM names n
        {join}
        ORDER BY a.device_id, a.name
    """
    return Attribute.objects.db_manager(devices.db).raw(sql, params)


# Bucket widths a chart may ask for, and the most buckets one history may have.
BUCKETS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
MAX_BUCKETS = 1000


class TimeBucket(models.Func):
    """The start of the fixed-width bucket a moment falls in, buckets counted from the Unix
    epoch in UTC: so a day bucket starts at midnight UTC, and both databases agree."""

    output_field = models.DateTimeField()

    def __init__(self, expression, width: timedelta):
        self.seconds = int(width.total_seconds())
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            f"TimeBucket has no SQL for {connection.vendor}: add an as_{connection.vendor} method."
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        moment, params = compiler.compile(self.source_expressions[0])
        return (
            f"date_bin(INTERVAL '{self.seconds} seconds', {moment}, "
            "TIMESTAMPTZ '1970-01-01 00:00:00+00')",
            params,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        moment, params = compiler.compile(self.source_expressions[0])
        # SQLite divides toward zero; the double modulo floors moments before 1970 as well.
        # %% is a literal % in SQL that goes through Django's parameter substitution.
        epoch = f"CAST(strftime('%%s', {moment}) AS INTEGER)"
        start = f"{epoch} - ((({epoch} %% {self.seconds}) + {self.seconds}) %% {self.seconds})"
        return f"datetime({start}, 'unixepoch')", params * 2


def history(
    device_id: int, name: str, bucket: timedelta, since: datetime, until: datetime
) -> list[HistoryBucket]:
    """Readings of one attribute from `since` until before `until`, aggregated per bucket in
    the database: a chart gets at most a few hundred points, never every raw row."""
    rows = (
        Attribute.objects.filter(
            device_id=device_id, name=name, valid_at__gte=since, valid_at__lt=until
        )
        .annotate(start=TimeBucket("valid_at", bucket))
        .values("start")
        .annotate(avg=Avg("value"), min=Min("value"), max=Max("value"), count=Count("id"))
        .order_by("start")
    )
    return [HistoryBucket(**row) for row in rows]
