{% if cookiecutter.use_mqtt -%}
"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`, or
`manage.py simulate_push mqtt --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
push per reading period, oldest first. `webhook` sends each device's push, signed, to the
project's webhook for the simulated vendor (by default the dev server's,
http://127.0.0.1:8000/webhooks/simulator/), signed with SIMULATOR_WEBHOOK_SECRET as
vendors/signing.py says. `mqtt` publishes one message per reading period, holding every
device's push, to SIMULATOR_MQTT_TOPIC on the broker at MQTT_URL at QoS 1, for `manage.py
consume_mqtt` to receive. The bodies are the ones simulator.py describes: the demo and the
tests have a pushing vendor without hardware. Pushing the same readings again stores nothing
twice.
{%- else -%}
"""Push readings as a vendor would: `manage.py simulate_push webhook --readings 10`.

Each simulated device (or each one named with --devices) pushes its latest N readings, one
signed push per reading period, oldest first, to the project's webhook for the simulated vendor
(by default the dev server's, http://127.0.0.1:8000/webhooks/simulator/). The body is the one
simulator.py describes, signed with SIMULATOR_WEBHOOK_SECRET as vendors/signing.py says: the
demo and the tests have a pushing vendor without hardware. Pushing the same readings again
stores nothing twice.
{%- endif %}

With --every SECONDS it then goes on, as a live vendor does: each device pushes its current
reading every SECONDS until the command is stopped (Ctrl+C). A round the server refuses, or
one made while it is down, is reported in one line and the next round tries again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
{%- if cookiecutter.use_mqtt %}
from django.conf import settings
{%- endif %}
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
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

# One round: what the chosen devices push at each of the moments, oldest first; it says in
# one line what was taken, or raises CommandError.
Round = Callable[[Iterable[SimulatedDevice], list[datetime]], str]


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
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="then push each device's current reading every SECONDS, until stopped",
        )

    def handle(
        self,
        *args: Any,
        transport: str,
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
        chosen = SimulatedDevice.objects.order_by("vendor_device_id")
        if devices:
            chosen = chosen.filter(vendor_device_id__in=devices)
        if not chosen.exists():
            raise CommandError("No simulated device to push for: run `manage.py seed_demo` first.")
        with httpx.Client(timeout=10.0) as http:
{%- if cookiecutter.use_mqtt %}
            send = publisher(cloud) if transport == "mqtt" else pusher(cloud, http, url)
{%- else %}
            send = pusher(cloud, http, url)
{%- endif %}
            period = timedelta(seconds=cloud.options.reading_period)
            now = timezone.now()
            moments = [now - back * period for back in reversed(range(readings))]
            if every is None:
                self.stdout.write(send(chosen, moments))
            else:
                self.repeat(send, chosen, moments, every)

    def repeat(
        self, send: Round, chosen: QuerySet[SimulatedDevice], moments: list[datetime], every: float
    ) -> None:
        self.stdout.write(f"Pushing every {every:g} s; Ctrl+C stops.")
        try:
            while True:
                try:
                    # Read again: a device switched since pushes its new state.
                    self.stdout.write(send(chosen.all(), moments))
                except CommandError as error:
                    self.stderr.write(str(error))
                time.sleep(every)
                moments = [timezone.now()]
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")


def pusher(cloud: SimulatedCloud, http: httpx.Client, url: str) -> Round:
    """Rounds of signed pushes to the webhook at `url`, one per device and moment."""
    secret = cloud.options.webhook_secret
    if not secret:
        raise CommandError("SIMULATOR_WEBHOOK_SECRET is not set: set it, here and on the server.")

    def send(chosen: Iterable[SimulatedDevice], moments: list[datetime]) -> str:
        pushes = new_rows = 0
        for reports in pushed_bodies(cloud, chosen, moments):
            for report in reports:
                # Each push its own id, as vendors' pushes have: the same readings pushed
                # twice within a second are two pushes, not a replay.
                body = json.dumps({"id": uuid.uuid4().hex, "devices": [report]}).encode()
                new_rows += push(http, url, secret, body)
                pushes += 1
        return f"{pushes} pushes accepted by {url}: {new_rows} new rows."

    return send
{%- if cookiecutter.use_mqtt %}


def publisher(cloud: SimulatedCloud) -> Round:
    """Rounds of messages to the simulated vendor's topic, one per moment holding every
    device's push."""
    topic = cloud.options.mqtt_topic
    if not topic:
        raise CommandError("SIMULATOR_MQTT_TOPIC is not set: set it, here and for consume_mqtt.")
    try:
        broker = broker_from_url(settings.MQTT_URL)
    except BrokerURLError as error:
        raise CommandError(str(error)) from None

    def send(chosen: Iterable[SimulatedDevice], moments: list[datetime]) -> str:
        devices = list(chosen)
        bodies = (
            json.dumps({"id": uuid.uuid4().hex, "devices": reports}).encode()
            for reports in pushed_bodies(cloud, devices, moments)
        )
        try:
            published = publish(broker, topic, bodies)
        except PublishFailed as error:
            raise CommandError(str(error)) from None
        return f"{published} messages of {len(devices)} devices published to {topic} on {broker}."

    return send
{%- endif %}


def pushed_bodies(
    cloud: SimulatedCloud, chosen: Iterable[SimulatedDevice], moments: list[datetime]
) -> Iterator[list[dict]]:
    """Per moment, in order, what each chosen device pushes of it."""
    devices = list(chosen)
    for moment in moments:
        yield [report_json(cloud.report_of(device, moment)) for device in devices]


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
