"""Reads of observations, kept in one place so that each one can be made fast once.

Pages that show many readings get plain values, not model instances: at a thousand devices,
building models costs several times the queries themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple, NoReturn

from django.db import NotSupportedError, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Avg, Count, Max, Min, QuerySet
from django.db.models.sql.compiler import SQLCompiler

from ..devices.models import Device
from .models import Attribute, LatestAttribute, LatestStatus


class AttributeReading(NamedTuple):
    name: str
    value: float
    units: str
    valid_at: datetime


class StatusReading(NamedTuple):
    is_on: bool
    state: str
    valid_at: datetime


@dataclass(frozen=True)
class LatestReadings:
    attributes: list[AttributeReading] = field(default_factory=list)
    status: StatusReading | None = None


# A dataclass: as a NamedTuple, its count field would shadow tuple.count().
@dataclass(frozen=True)
class HistoryBucket:
    start: datetime
    avg: float
    min: float
    max: float
    count: int


def latest_readings(device: Device) -> LatestReadings:
    """The newest reading of each of a device's attributes, and its newest status."""
    return latest_for_devices(Device.objects.filter(pk=device.pk)).get(device.pk, LatestReadings())


def latest_for_devices(devices: QuerySet[Device]) -> dict[int, LatestReadings]:
    """The newest reading of each attribute and the newest status of each of these devices, by
    device id; a device that never reported has no entry.

    Two queries however many devices there are, both read from the small tables the database
    keeps beside the readings (see models.py), never from the readings themselves; the devices
    go in as a subquery, not as a list of ids.
    """
    device_ids = devices.values("pk")
    statuses = LatestStatus.objects.filter(device__in=device_ids).values_list(
        "device_id", "is_on", "state", "valid_at"
    )
    latest = {
        device_id: LatestReadings(status=StatusReading(is_on, state, valid_at))
        for device_id, is_on, state, valid_at in statuses
    }
    attributes = (
        LatestAttribute.objects.filter(device__in=device_ids)
        .order_by("device_id", "name")
        .values_list("device_id", "name", "value", "units", "valid_at")
    )
    for device_id, name, value, units, valid_at in attributes:
        if device_id not in latest:
            latest[device_id] = LatestReadings()
        latest[device_id].attributes.append(AttributeReading(name, value, units, valid_at))
    return latest


# Bucket widths a chart may ask for, and the most buckets one history may have.
BUCKETS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
MAX_BUCKETS = 1000


class TimeBucket(models.Func):
    """The start of the fixed-width bucket a moment falls in, buckets counted from the Unix
    epoch in UTC: so a day bucket starts at midnight UTC, and both databases agree."""

    output_field = models.DateTimeField()

    def __init__(self, expression: str, width: timedelta) -> None:
        self.seconds = int(width.total_seconds())
        super().__init__(expression)

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        *args: Any,
        **extra_context: Any,
    ) -> NoReturn:
        raise NotSupportedError(
            f"TimeBucket has no SQL for {connection.vendor}: add an as_{connection.vendor} method."
        )

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        moment, params = compiler.compile(self.source_expressions[0])
        return (
            f"date_bin(INTERVAL '{self.seconds} seconds', {moment}, "
            "TIMESTAMPTZ '1970-01-01 00:00:00+00')",
            params,
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
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
        .values_list(*(bucket_field.name for bucket_field in fields(HistoryBucket)))
    )
    return [HistoryBucket(*row) for row in rows]
