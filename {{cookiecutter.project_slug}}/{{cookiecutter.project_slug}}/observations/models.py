"""What devices report, one row per reading.

These tables grow without bound, so every index is chosen for a query that needs it, and the
unique constraints make writes idempotent: storing the same reading twice adds no row.
"""

from django.db import models
from django.utils import timezone

from ..devices.models import Device


def device_foreign_key(related_name: str) -> models.ForeignKey:
    # No index of its own: each table's unique constraint leads with the device, which serves
    # lookups by device and leaves one index fewer to maintain on every insert.
    return models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name=related_name, db_index=False
    )


class Observation(models.Model):
    """A reading of a device, stamped with the time the vendor says it was taken."""

    valid_at = models.DateTimeField(help_text="When the reading was taken, by the vendor's clock.")
    recorded_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When this project stored the reading."
    )

    class Meta:
        abstract = True
        get_latest_by = "valid_at"


class Attribute(Observation):
    """A numeric reading such as temperature or power."""

    device = device_foreign_key(related_name="attributes")
    name = models.CharField(max_length=50, help_text="What was measured, e.g. 'temperature'.")
    value = models.FloatField()
    units = models.CharField(max_length=20, blank=True, help_text="e.g. '°C', 'W'.")

    class Meta(Observation.Meta):
        constraints = [
            # Also the index behind "latest reading per device and name" and history queries.
            models.UniqueConstraint(
                fields=["device", "name", "valid_at"], name="attribute_unique_reading"
            ),
        ]

    def __str__(self) -> str:
        taken = f"{self.valid_at:%Y-%m-%d %H:%M}"
        return f"{self.name}={self.value:g}{self.units} ({self.device}, {taken})"


class Status(Observation):
    """Whether a device was on, and the vendor's own word for its state."""

    device = device_foreign_key(related_name="statuses")
    is_on = models.BooleanField()
    state = models.CharField(
        max_length=50, blank=True, help_text="The vendor's state, e.g. 'standby'."
    )

    class Meta(Observation.Meta):
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(fields=["device", "valid_at"], name="status_unique_reading"),
        ]

    def __str__(self) -> str:
        state = "on" if self.is_on else "off"
        return f"{state} ({self.device}, {self.valid_at:%Y-%m-%d %H:%M})"
