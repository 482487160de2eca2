from django.db import models


class Device(models.Model):
    """A device in the field, known to its vendor's cloud by `vendor_device_id`."""

    name = models.CharField(max_length=100)
    location = models.CharField(max_length=100, blank=True)
    vendor = models.CharField(
        max_length=50,
        default="simulator",
        help_text="Which vendor's cloud API this device is reached through.",
    )
    vendor_device_id = models.CharField("vendor's device id", max_length=100)
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the vendor says of the device: model, firmware, features.",
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
