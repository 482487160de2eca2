{% if cookiecutter.use_mqtt -%}
"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`, or
`manage.py simulate_push mqtt --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
push per reading period, oldest first. `webhook` sends each device's push, signed, to the
project's webhook for the simulated vendor (by default the dev server's,
http://127.0.0.1:8000/webhooks/simulator/), signed with SIMULATOR_WEBHOOK_SECRET as
api/webhooks.py checks it. `mqtt` publishes one message per reading period, holding every
device's push, to SIMULATOR_MQTT_TOPIC on the broker at MQTT_URL at QoS 1, for `manage.py
consume_mqtt` to receive. The bodies are the ones simulator.py describes: the demo and the
tests have a pushing vendor without hardware. Pushing the same readings again stores nothing
twice.
"""
{%- else -%}
"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
signed push per reading period, oldest first, to the project's webhook for the simulated vendor
(by default the dev server's, http://127.0.0.1:8000/webhooks/simulator/). The body is the one
simulator.py describes, signed with SIMULATOR_WEBHOOK_SECRET as api/webhooks.py checks it: the
demo and the tests have a pushing vendor without hardware. Pushing the same readings again
stores nothing twice.
"""
{%- endif %}

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
{%- if cookiecutter.use_mqtt %}
from django.conf import settings
{%- endif %}
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
{%- if cookiecutter.use_mqtt %}

from config.mqtt import BrokerURLError, broker_from_url
{%- endif %}

from ...models import SimulatedDevice
{%- if cookiecutter.use_mqtt %}
from ...mqtt_push import PublishFailed, publish
{%- endif %}
from ...signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ...simulator import SimulatedCloud, simulated_cloud
from ...simulator_api import report_json

DEFAULT_URL = "http://127.0.0.1:8000/webhooks/simulator/"


class Command(BaseCommand):
{%- if cookiecutter.use_mqtt %}
    help = "Push readings of the simulated devices to the project's webhook or MQTT broker."
{%- else %}
    help = "Push signed readings of the simulated devices to the project's webhook."
{%- endif %}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "transport",
            choices={{ '["webhook", "mqtt"]' if cookiecutter.use_mqtt else '["webhook"]' }},
            help="how the vendor pushes",
        )
        parser.add_argument(
            "--readings", type=int, default=1, help="reading periods each device pushes (1)"
        )
        parser.add_argument(
            "--devices", nargs="+", metavar="ID", help="vendor device ids (default: every one)"
        )
        parser.add_argument("--url", default=DEFAULT_URL, help=f"the webhook ({DEFAULT_URL})")

    def handle(
        self,
        *args: Any,
        transport: str,
        readings: int,
        devices: list[str] | None,
        url: str,
        **options: Any,
    ) -> None:
        if readings < 1:
            raise CommandError("--readings must be 1 or more.")
        cloud = simulated_cloud()
        chosen = list(SimulatedDevice.objects.order_by("vendor_device_id"))
        if devices:
            chosen = [device for device in chosen if device.vendor_device_id in devices]
        if not chosen:
            raise CommandError("No simulated device to push for: run `manage.py seed_demo` first.")
{%- if cookiecutter.use_mqtt %}
        if transport == "mqtt":
            self.publish(cloud, chosen, readings)
            return
{%- endif %}
        secret = cloud.options.webhook_secret
        if not secret:
            raise CommandError(
                "SIMULATOR_WEBHOOK_SECRET is not set: set it, here and on the server."
            )
        pushes = new_rows = 0
        with httpx.Client(timeout=10.0) as http:
            for bodies in pushed_bodies(cloud, chosen, readings):
                for report in bodies:
                    # Each push its own id, as vendors' pushes have: the same readings pushed
                    # twice within a second are two pushes, not a replay.
                    body = json.dumps({"id": uuid.uuid4().hex, "devices": [report]}).encode()
                    new_rows += push(http, url, secret, body)
                    pushes += 1
        self.stdout.write(f"{pushes} pushes accepted by {url}: {new_rows} new rows.")
{%- if cookiecutter.use_mqtt %}

    def publish(self, cloud: SimulatedCloud, chosen: list[SimulatedDevice], readings: int) -> None:
        topic = cloud.options.mqtt_topic
        if not topic:
            raise CommandError(
                "SIMULATOR_MQTT_TOPIC is not set: set it, here and for consume_mqtt."
            )
        try:
            broker = broker_from_url(settings.MQTT_URL)
        except BrokerURLError as error:
            raise CommandError(str(error)) from None
        bodies = (
            json.dumps({"id": uuid.uuid4().hex, "devices": reports}).encode()
            for reports in pushed_bodies(cloud, chosen, readings)
        )
        try:
            published = publish(broker, topic, bodies)
        except PublishFailed as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{published} messages of {len(chosen)} devices published to {topic} on {broker}."
        )
{%- endif %}


def pushed_bodies(
    cloud: SimulatedCloud, chosen: list[SimulatedDevice], readings: int
) -> Iterator[list[dict]]:
    """Per reading period, oldest first, what each chosen device pushes of it."""
    period = timedelta(seconds=cloud.options.reading_period)
    now = timezone.now()
    for back in reversed(range(readings)):
        yield [report_json(cloud.report_of(device, now - back * period)) for device in chosen]


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
