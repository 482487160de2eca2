from django.db import models
from django.utils import timezone


class SimulatedDevice(models.Model):
    """A device in the simulated vendor's cloud.

    Only the simulator reads and writes this table: it stands for the vendor's own database,
    so that the web process, workers and management commands all see the same devices.
    """

    vendor_device_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=100)
    is_on = models.BooleanField(default=True)
    can_switch = models.BooleanField(
        default=True, help_text="A plug can be switched; a sensor only measures."
    )
    online = models.BooleanField(
        default=True, help_text="Whether the simulated vendor reports it connected."
    )
    switched_at = models.DateTimeField(default=timezone.now)
    set_status_calls = models.PositiveIntegerField(
        default=0, help_text="Requests to switch it that the simulated vendor carried out."
    )

    def __str__(self) -> str:
        return self.vendor_device_id
