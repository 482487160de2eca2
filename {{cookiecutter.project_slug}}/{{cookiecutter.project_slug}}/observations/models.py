"""What devices report: every reading, and the newest of each.

The readings tables grow without bound, so every index is chosen for a query that needs it, and
the unique constraints make writes idempotent: storing the same reading twice adds no row.

Beside them, one small table per kind holds only the newest reading of each device (and name),
for pages that show "now". The database keeps those tables itself: a trigger on each readings
table (migration 0002) upserts the newest row after every insert, whichever way the rows came
in (ingest, the ORM, COPY), and never lets an older reading replace a newer one.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..devices.models import Device


def device_foreign_key(related_name: str) -> models.ForeignKey[Device]:
    # No index of its own: each table's unique constraint leads with the device, which serves
    # lookups by device and leaves one index fewer to maintain on every insert.
    return models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name=related_name, db_index=False
    )


def taken_at() -> models.DateTimeField:
    return models.DateTimeField(help_text="When the reading was taken, by the vendor's clock.")


class Measurement(models.Model):
    """What a numeric reading says: a name, a value and its units."""

    name = models.CharField(max_length=50, help_text="What was measured, e.g. 'temperature'.")
    value = models.FloatField()
    units = models.CharField(max_length=20, blank=True, help_text="e.g. '°C', 'W'.")

    # Each concrete model declares these two fields; the abstract one only reads them.
    device: Device
    valid_at: datetime

    class Meta:
        abstract = True

    def __str__(self) -> str:
        taken = f"{self.valid_at:%Y-%m-%d %H:%M}"
        return f"{self.name}={self.value:g}{self.units} ({self.device}, {taken})"


class SwitchState(models.Model):
    """What a status says: whether the device was on, and the vendor's own word for it."""

    is_on = models.BooleanField()
    state = models.CharField(
        max_length=50, blank=True, help_text="The vendor's state, e.g. 'standby'."
    )

    # Each concrete model declares these two fields; the abstract one only reads them.
    device: Device
    valid_at: datetime

    class Meta:
        abstract = True

    def __str__(self) -> str:
        state = "on" if self.is_on else "off"
        return f"{state} ({self.device}, {self.valid_at:%Y-%m-%d %H:%M})"


class Observation(models.Model):
    """A reading of a device, stamped with the time the vendor says it was taken."""

    valid_at = taken_at()
    recorded_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When this project stored the reading."
    )

    class Meta:
        abstract = True
        get_latest_by = "valid_at"


class Attribute(Measurement, Observation):
    """A numeric reading such as temperature or power."""

    device = device_foreign_key(related_name="attributes")

    class Meta(Observation.Meta):
        constraints = [
            # Also the index behind history queries.
            models.UniqueConstraint(
                fields=["device", "name", "valid_at"], name="attribute_unique_reading"
            ),
        ]


class Status(SwitchState, Observation):
    """Whether a device was on, and the vendor's own word for its state."""

    device = device_foreign_key(related_name="statuses")

    class Meta(Observation.Meta):
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(fields=["device", "valid_at"], name="status_unique_reading"),
        ]


class LatestAttribute(Measurement):
    """The newest reading of each name of each device, kept by a trigger on Attribute."""

    device = device_foreign_key(related_name="latest_attributes")
    valid_at = taken_at()

    class Meta:
        constraints = [
            # The key the trigger upserts on, and the order pages list readings in.
            models.UniqueConstraint(fields=["device", "name"], name="latest_attribute_per_name"),
        ]


class LatestStatus(SwitchState):
    """The newest status of each device, kept by a trigger on Status."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="latest_status"
    )
    valid_at = taken_at()

    class Meta:
        verbose_name_plural = "latest statuses"


class Export(models.Model):
    """Readings asked for as one CSV file, written by a worker a part at a time (exports.py).

    The position where the next part starts is saved with each part: a worker that stops, or
    dies, leaves the export for the next task to go on from there, and writes nothing twice.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    device_ids = models.JSONField(help_text="The devices whose readings it holds, in order.")
    names = models.JSONField(default=list, blank=True, help_text="Reading names; none: all.")
    since = models.DateTimeField()
    until = models.DateTimeField()
    request_key = models.CharField(
        max_length=64, help_text="A digest of what was asked: the same request finds this export."
    )
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    rows = models.PositiveBigIntegerField(default=0, help_text="Readings written so far.")
    error = models.TextField(blank=True)
    # Where the next part starts: after this reading, by the order of the unique index.
    next_device = models.PositiveIntegerField(default=0, help_text="An index in device_ids.")
    after_name = models.CharField(max_length=50, blank=True)
    after_valid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    SETTLED = (State.SUCCEEDED, State.FAILED)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "request_key", "created_at"], name="export_by_request")
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.state})"


class ExportPart(models.Model):
    """Some lines of an export's CSV, without its header; the file is its parts in order."""

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="parts")
    first_row = models.PositiveBigIntegerField(help_text="How many readings come before it.")
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["export", "first_row"], name="export_part_once"),
        ]

    def __str__(self) -> str:
        return f"{self.export}, from reading {self.first_row}"
