"""Create simulated devices with a history: `manage.py seed_demo --devices 12 --history-days 7`.

It sets up the simulated vendor's account, then imports it as sync_devices imports any
vendor's list (devices/sync.py), and gives the imported devices a location (the project's own
field, which no vendor lists). It hands the import the account it has just set up rather than
asking the simulated vendor for its list: the seed must work while the vendor's fault knobs
fail every call, as the outage tests have them. `manage.py sync_devices` then reads the same
list through the vendor.

History goes through observations.ingest, the path live readings take, so seeding twice adds
nothing and a benchmark measures the real path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import reset_queries, transaction
from django.utils import timezone

from ....devices.models import Device
from ....devices.sync import import_devices
from ....observations.ingest import (
    AttributeRow,
    StatusRow,
    backfill_attributes,
    backfill_statuses,
)
from ....vendors.models import SimulatedDevice
from ....vendors.simulator import device_info, simulated_history

LOCATIONS = ("Kitchen", "Greenhouse", "Garage", "Office", "Workshop", "Cellar")
HISTORY_STEP = timedelta(minutes=10)


def is_sensor(number: int) -> bool:
    """Every sixth device is a sensor: it measures, and cannot be switched."""
    return number % 6 == 0


def kind(number: int) -> str:
    return "sensor" if is_sensor(number) else "plug"


def reports_offline(number: int) -> bool:
    """A few devices (every eleventh) are offline, as their vendor reports."""
    return number % 11 == 0


class Command(BaseCommand):
    help = "Create simulated devices, and readings for the past days through the ingest path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--devices", type=int, default=12, metavar="N")
        parser.add_argument("--history-days", type=float, default=7, metavar="D")

    def handle(self, devices: int, history_days: float, **options: Any) -> None:
        if not 1 <= devices <= 100_000:
            raise CommandError(f"--devices {devices}: give a number from 1 to 100000.")
        if not 0 <= history_days <= 3650:
            raise CommandError(f"--history-days {history_days}: give a number from 0 to 3650.")

        vendor_ids = [f"sim-{number:05d}" for number in range(1, devices + 1)]
        # Zero-padded, so that names sort as numbers do: Plug 02 before Plug 10.
        digits = len(str(devices))
        with transaction.atomic():
            SimulatedDevice.objects.bulk_create(
                [
                    SimulatedDevice(
                        vendor_device_id=vendor_id,
                        name=f"{kind(number).capitalize()} {number:0{digits}d}",
                        can_switch=not is_sensor(number),
                        online=not reports_offline(number),
                    )
                    for number, vendor_id in enumerate(vendor_ids, start=1)
                ],
                ignore_conflicts=True,
            )
            account = SimulatedDevice.objects.order_by("vendor_device_id")
            import_devices("simulator", [device_info(d) for d in account])
            imported = Device.objects.filter(vendor="simulator", vendor_device_id__in=vendor_ids)
            placed = list(imported.filter(location="").only("pk", "vendor_device_id"))
            for device in placed:
                number = int(device.vendor_device_id.removeprefix("sim-"))
                device.location = LOCATIONS[number % len(LOCATIONS)]
            Device.objects.bulk_update(placed, ["location"], batch_size=1000)
        seeded = Device.objects.filter(vendor="simulator", vendor_device_id__in=vendor_ids)
        self.stdout.write(f"{len(vendor_ids):,} simulated devices ready.")

        end = timezone.now()
        start = end - timedelta(days=history_days)
        stored = 0
        for done, device in enumerate(seeded.order_by("pk").iterator(), start=1):
            names = set(device.reading_names)
            history = (
                AttributeRow(device.pk, r.name, r.value, r.units, r.valid_at)
                for r in simulated_history(device.vendor_device_id, start, end, HISTORY_STEP)
                if r.name in names
            )
            with transaction.atomic():
                # A device's history streams into the database a chunk at a time: years of it
                # cost no more memory than a day.
                new_readings = backfill_attributes(history)
                if new_readings and device.can_switch:
                    new_readings += backfill_statuses([StatusRow(device.pk, True, "on", start)])
            stored += new_readings
            # With DEBUG on, as on a developer's machine, Django keeps every statement it ran:
            # thousands of devices' worth of readings in memory, unless forgotten as we go.
            reset_queries()
            if done % max(1, len(vendor_ids) // 10) == 0 or done == len(vendor_ids):
                self.stdout.write(
                    f"  history: {done:,}/{len(vendor_ids):,} devices, {stored:,} new rows"
                )
        self.stdout.write(f"Seeded {len(vendor_ids):,} devices with {stored:,} new readings.")
