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
