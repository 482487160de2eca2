"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
signed push per reading period, oldest first, to the project's webhook for the simulated vendor
(by default the dev server's, http://127.0.0.1:8000/webhooks/simulator/). The body is the one
simulator.py describes, signed with SIMULATOR_WEBHOOK_SECRET as api/webhooks.py checks it: the
demo and the tests have a pushing vendor without hardware. Pushing the same readings again
stores nothing twice.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...models import SimulatedDevice
from ...signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ...simulator import simulated_cloud
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

    def handle(
        self, *args: Any, readings: int, devices: list[str] | None, url: str, **options: Any
    ) -> None:
        if readings < 1:
            raise CommandError("--readings must be 1 or more.")
        cloud = simulated_cloud()
        secret = cloud.options.webhook_secret
        if not secret:
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
        pushes = new_rows = 0
        with httpx.Client(timeout=10.0) as http:
            for back in reversed(range(readings)):
                for device in chosen:
                    report = cloud.report_of(device, now - back * period)
                    # Each push its own id, as vendors' pushes have: the same readings pushed
                    # twice within a second are two pushes, not a replay.
                    push_json = {"id": uuid.uuid4().hex, "devices": [report_json(report)]}
                    body = json.dumps(push_json).encode()
                    new_rows += push(http, url, secret, body)
                    pushes += 1
        self.stdout.write(f"{pushes} pushes accepted by {url}: {new_rows} new rows.")


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
