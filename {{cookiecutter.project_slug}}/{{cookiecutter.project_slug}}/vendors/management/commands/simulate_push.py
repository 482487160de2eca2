"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
signed push per reading period, oldest first, to the project's webhook for the simulated vendor
(by default the dev server's, http://127.0.0.1:8000/webhooks/simulator/). The body is the one
simulator.py describes, signed with SIMULATOR_WEBHOOK_SECRET as api/webhooks.py checks it: the
demo and the tests have a pushing vendor without hardware. Pushing the same readings again
stores nothing twice.

With --every SECONDS it then goes on, as a live vendor does: each device pushes its current
reading every SECONDS until the command is stopped (Ctrl+C). A round the server refuses, or
one made while it is down, is reported in one line and the next round tries again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...models import SimulatedDevice
from ...signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ...simulator import SimulatedCloud, simulated_cloud
from ...simulator_api import report_json

DEFAULT_URL = "http://127.0.0.1:8000/webhooks/simulator/"


class Command(BaseCommand):
    help = "Push signed readings of the simulated devices to the project's webhook."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("transport", choices=["webhook"], help="how the vendor pushes")
        parser.add_argument(
            "--readings", type=int, default=1, help="reading periods each device pushes (1)"
        )
        parser.add_argument(
            "--devices", nargs="+", metavar="ID", help="vendor device ids (default: every one)"
        )
        parser.add_argument("--url", default=DEFAULT_URL, help=f"the webhook ({DEFAULT_URL})")
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="then push each device's current reading every SECONDS, until stopped",
        )

    def handle(
        self,
        *args: Any,
        readings: int,
        devices: list[str] | None,
        url: str,
        every: float | None,
        **options: Any,
    ) -> None:
        if readings < 1:
            raise CommandError("--readings must be 1 or more.")
        if every is not None and every <= 0:
            raise CommandError("--every must be a number of seconds above 0.")
        cloud = simulated_cloud()
        if not cloud.options.webhook_secret:
            raise CommandError(
                "SIMULATOR_WEBHOOK_SECRET is not set: set it, here and on the server."
            )
        chosen = SimulatedDevice.objects.order_by("vendor_device_id")
        if devices:
            chosen = chosen.filter(vendor_device_id__in=devices)
        if not chosen.exists():
            raise CommandError("No simulated device to push for: run `manage.py seed_demo` first.")
        period = timedelta(seconds=cloud.options.reading_period)
        now = timezone.now()
        with httpx.Client(timeout=10.0) as http:
            moments = [now - back * period for back in reversed(range(readings))]
            if every is None:
                pushes, new_rows = push_round(http, url, cloud, chosen, moments)
                self.stdout.write(f"{pushes} pushes accepted by {url}: {new_rows} new rows.")
                return
            self.stdout.write(f"Pushing every {every:g} s to {url}; Ctrl+C stops.")
            try:
                while True:
                    try:
                        # Read again: a device switched since pushes its new state.
                        pushes, new_rows = push_round(http, url, cloud, chosen.all(), moments)
                    except CommandError as error:
                        self.stderr.write(str(error))
                    else:
                        self.stdout.write(f"{pushes} pushes: {new_rows} new rows.")
                    time.sleep(every)
                    moments = [timezone.now()]
            except KeyboardInterrupt:
                self.stdout.write("Stopped.")


def push_round(
    http: httpx.Client,
    url: str,
    cloud: SimulatedCloud,
    devices: Iterable[SimulatedDevice],
    moments: list[datetime],
) -> tuple[int, int]:
    """Each device pushes its report at each moment, oldest first; return the pushes made and
    the rows they added."""
    pushes = new_rows = 0
    for moment in moments:
        for device in devices:
            report = cloud.report_of(device, moment)
            # Each push its own id, as vendors' pushes have: the same readings pushed twice
            # within a second are two pushes, not a replay.
            push_json = {"id": uuid.uuid4().hex, "devices": [report_json(report)]}
            body = json.dumps(push_json).encode()
            new_rows += push(http, url, cloud.options.webhook_secret, body)
            pushes += 1
    return pushes, new_rows


def push(http: httpx.Client, url: str, secret: str, body: bytes) -> int:
    """Send one signed push; return the rows it added, or fail with the server's answer."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise CommandError(f"{url} cannot be reached ({error}): is the server running?") from None
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}: {response.text[:200]}")
    return int(response.json()["new_rows"])
