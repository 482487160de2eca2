from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Device(models.Model):
    """A device in the field, known to its vendor's cloud by `vendor_device_id`."""

    name = models.CharField(max_length=100)
    location = models.CharField(max_length=100, blank=True)
    vendor = models.CharField(
        max_length=50,
        default="simulator",
        help_text="The vendor whose cloud reaches this device: a key of settings.VENDORS.",
    )
    vendor_device_id = models.CharField("vendor's device id", max_length=100)
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the vendor says of the device: model, firmware, features.",
    )
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When the vendor last answered for this device."
    )
    last_error = models.TextField(
        blank=True, help_text="Why the vendor last refused this device; empty once it answers."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Two vendors may well use the same id for different devices.
            models.UniqueConstraint(
                fields=["vendor", "vendor_device_id"], name="device_unique_per_vendor"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.vendor not in settings.VENDORS:
            known = ", ".join(sorted(settings.VENDORS))
            raise ValidationError(
                {"vendor": f"{self.vendor!r} is not in settings.VENDORS (known: {known})."}
            )
