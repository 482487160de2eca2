"""The simulated vendor: devices that need no hardware, with knobs for latency and faults.

Readings are a pure function of the device and the reading period, so the demo, the tests and
the benchmarks see the same values on every run, and reading a device twice within one period
returns the same reading (with the same timestamp) rather than a new one. Each device lives in
the SimulatedDevice table: its switch state, and whether it is a plug or a sensor (which cannot
be switched) and online (an offline device is listed, and read as offline, with nothing else to
say). Faults are drawn from a seeded generator.

The same simulated cloud answers in-process (SimulatorClient, the default vendor) and over HTTP
(simulator_api.py), which is how the HTTP client for a real vendor is tested on real sockets.

It pushes too (`manage.py simulate_push webhook`): a POST to /webhooks/simulator/ whose body is
what the example API's GET state answers (example_api.py) with an id of its own, {"id",
"devices": [{"id", "online", "status", "readings"}]}, signed with the simulator's
webhook_secret; SimulatorClient.parse_push reads it back.
{%- if cookiecutter.use_mqtt %}
`manage.py simulate_push mqtt` publishes the same bodies, unsigned, to its mqtt_topic on the
MQTT broker, where `manage.py consume_mqtt` receives them.
{%- endif %}
"""

from __future__ import annotations

import math
import random
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from .base import (
    AttributeReading,
    DeviceInfo,
    DeviceReport,
    RateLimited,
    RequestRejected,
    StatusReading,
    UnknownDevice,
    VendorClient,
    VendorTimeout,
    VendorUnavailable,
    pushed_json,
)
from .example_api import parse_reports
from .limits import client_options, limiter_for
from .models import SimulatedDevice

# What each kind of simulated device reports: a plug measures its power and the room's
# temperature, a sensor only the temperature.
PLUG_READINGS = ("power", "temperature")
SENSOR_READINGS = ("temperature",)


@dataclass(frozen=True)
class SimulatorOptions:
    latency: float = 0.0  # seconds every call takes
    error_rate: float = 0.0  # share of calls answered with a server error
    timeout_rate: float = 0.0  # share of calls that hang for `timeout` seconds, then time out
    timeout: float = 10.0
    max_concurrent_calls: int = 0  # beyond this many calls at once: 429 (0: no limit)
    retry_after: float = 1.0  # seconds a 429 asks the caller to wait
    reading_period: int = 60  # seconds: one reading per device per period
    batch_size: int = 100  # device ids one read may carry
    webhook_secret: str = ""  # what its pushes are signed with (empty: it does not push)
{%- if cookiecutter.use_mqtt %}
    mqtt_topic: str = ""  # where it publishes its pushes (empty: not to an MQTT broker)
{%- endif %}
    seed: int = 0


def reading_period_start(moment: datetime, period: int) -> datetime:
    seconds = int(moment.timestamp()) // period * period
    return datetime.fromtimestamp(seconds, tz=UTC)


def simulated_attributes(
    vendor_device_id: str, is_on: bool, at: datetime
) -> list[AttributeReading]:
    """What a device measures at a moment: a daily temperature wave, power when on."""
    phase = zlib.crc32(vendor_device_id.encode()) % 360 / 360 * math.tau
    noise = zlib.crc32(f"{vendor_device_id}@{at.timestamp():.0f}".encode()) % 100 / 100 - 0.5
    day_angle = at.timestamp() % 86400 / 86400 * math.tau + phase
    temperature = round(20 + 3 * math.sin(day_angle) + noise, 2)
    power = round(60 + 25 * math.sin(2 * day_angle) + 10 * noise, 1) if is_on else 0.4
    return [
        AttributeReading(vendor_device_id, "power", power, "W", at),
        AttributeReading(vendor_device_id, "temperature", temperature, "°C", at),
    ]


def simulated_history(
    vendor_device_id: str, start: datetime, end: datetime, step: timedelta
) -> Iterator[AttributeReading]:
    """Readings every `step` from `start` until before `end`, as if the device had been on."""
    at = reading_period_start(start, int(step.total_seconds()))
    if at < start:
        at += step
    while at < end:
        yield from simulated_attributes(vendor_device_id, True, at)
        at += step


class CallsInFlight:
    """The simulated vendor's count of the calls in flight, and the most it saw at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._most = 0

    def enter(self, limit: int) -> bool:
        """Count one more call, unless `limit` (0: none) are in flight; return whether it was."""
        with self._lock:
            if limit and self._in_flight >= limit:
                return False
            self._in_flight += 1
            self._most = max(self._most, self._in_flight)
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def most_at_once(self) -> int:
        with self._lock:
            return self._most


class SimulatedCloud:
    """The simulated vendor's side: devices, readings and injected faults."""

    def __init__(self, options: SimulatorOptions, calls: CallsInFlight | None = None):
        self.options = options
        self.calls = calls or CallsInFlight()
        self._random = random.Random(options.seed)
        self._lock = threading.Lock()

    @contextmanager
    def call(self) -> Iterator[None]:
        """One API call: counts towards the concurrency limit, takes latency, may fail."""
        options = self.options
        if not self.calls.enter(options.max_concurrent_calls):
            raise RateLimited("simulated vendor: too many requests", options.retry_after)
        with self._lock:
            roll = self._random.random()
        try:
            if roll < options.timeout_rate:
                time.sleep(options.timeout)
                raise VendorTimeout("simulated vendor: timed out")
            time.sleep(options.latency)
            if roll < options.timeout_rate + options.error_rate:
                raise VendorUnavailable("simulated vendor: 503 Service Unavailable")
            yield
        finally:
            self.calls.leave()

    def devices(self, vendor_device_ids: Sequence[str]) -> list[SimulatedDevice]:
        # Raw SQL: building the ORM's query took a fifth of the CPU of a refresh through the
        # simulated vendor, work that a real vendor's servers do, not the project's.
        placeholders = ", ".join(["%s"] * len(vendor_device_ids))
        table = SimulatedDevice._meta.db_table
        query = f"SELECT * FROM {table} WHERE vendor_device_id IN ({placeholders})"
        found = {
            d.vendor_device_id: d for d in SimulatedDevice.objects.raw(query, vendor_device_ids)
        }
        unknown = [i for i in vendor_device_ids if i not in found]
        if unknown:
            raise UnknownDevice(f"simulated vendor: no device {', '.join(unknown)}")
        return [found[i] for i in vendor_device_ids]

    def status_of(self, device: SimulatedDevice, now: datetime) -> StatusReading:
        # A switch within the current period is its own reading, stamped when it happened.
        period_start = reading_period_start(now, self.options.reading_period)
        valid_at = max(period_start, device.switched_at)
        state = "on" if device.is_on else "standby"
        return StatusReading(device.vendor_device_id, device.is_on, state, valid_at)

    def report_of(self, device: SimulatedDevice, now: datetime) -> DeviceReport:
        if not device.online:
            return DeviceReport(device.vendor_device_id, online=False)
        period_start = reading_period_start(now, self.options.reading_period)
        readings = tuple(
            reading
            for reading in simulated_attributes(device.vendor_device_id, device.is_on, period_start)
            if reading.name in reading_names(device)
        )
        status = self.status_of(device, now) if device.can_switch else None
        return DeviceReport(device.vendor_device_id, status, readings, online=True)

    def list_devices(self) -> list[DeviceInfo]:
        with self.call():
            return [device_info(d) for d in SimulatedDevice.objects.order_by("vendor_device_id")]

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        with self.call():
            now = timezone.now()
            return [self.report_of(device, now) for device in self.devices(vendor_device_ids)]

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading:
        with self.call():
            (device,) = self.devices([vendor_device_id])
            if not device.can_switch:
                raise RequestRejected(f"simulated vendor: {device} is a sensor: it has no switch")
            # Counted, so that a test can tell how often a device was really switched.
            SimulatedDevice.objects.filter(pk=device.pk).update(
                set_status_calls=F("set_status_calls") + 1
            )
            if device.is_on != is_on:
                device.is_on = is_on
                device.switched_at = timezone.now()
                device.save(update_fields=["is_on", "switched_at"])
            return self.status_of(device, timezone.now())


def reading_names(device: SimulatedDevice) -> tuple[str, ...]:
    return PLUG_READINGS if device.can_switch else SENSOR_READINGS


def device_info(device: SimulatedDevice) -> DeviceInfo:
    """A simulated device as the simulated vendor lists it."""
    return DeviceInfo(
        device.vendor_device_id,
        device.name,
        {"model": "Simulated plug" if device.can_switch else "Simulated sensor"},
        can_switch=device.can_switch,
        reading_names=reading_names(device),
    )


_cloud: SimulatedCloud | None = None
_cloud_lock = threading.Lock()


def simulated_cloud() -> SimulatedCloud:
    """This process's simulated cloud, built from settings.VENDORS["simulator"]["OPTIONS"]."""
    global _cloud
    with _cloud_lock:
        if _cloud is None:
            options = settings.VENDORS.get("simulator", {}).get("OPTIONS", {})
{%- if cookiecutter.scheduler == "celery-beat" %}
            calls = None
            if settings.REDIS_URL:
                # Workers are processes: the one cloud they all call counts its calls in Redis.
                # Imported here: simulator_redis builds on the count of this module.
                from .simulator_redis import SharedCallsInFlight

                calls = SharedCallsInFlight.from_settings()
            _cloud = SimulatedCloud(SimulatorOptions(**client_options(options)), calls)
{%- else %}
            _cloud = SimulatedCloud(SimulatorOptions(**client_options(options)))
{%- endif %}
        return _cloud


@receiver(setting_changed)
def _forget_cloud(setting: str, **kwargs: object) -> None:
    global _cloud
    if setting == "VENDORS":
        _cloud = None


class SimulatorClient(VendorClient):
    """The default vendor: the simulated cloud, called in-process, within the limits this
    project allows itself with it (vendors/limits.py), as a real vendor's client is."""

    vendor = "simulator"

    def __init__(self, **options: object) -> None:
        # The options are the simulated cloud's, shared with the HTTP simulator: read them there.
        self.batch_size = simulated_cloud().options.batch_size
        self.webhook_secret = simulated_cloud().options.webhook_secret
{%- if cookiecutter.use_mqtt %}
        self.mqtt_topic = simulated_cloud().options.mqtt_topic
{%- endif %}

    def list_devices(self) -> list[DeviceInfo]:
        with limiter_for(self.vendor).call():
            return simulated_cloud().list_devices()

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        with limiter_for(self.vendor).call():
            return simulated_cloud().read_devices(vendor_device_ids)

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading:
        with limiter_for(self.vendor).call():
            return simulated_cloud().set_status(vendor_device_id, is_on)

    def parse_push(self, body: bytes) -> list[DeviceReport]:
        return pushed_json(body, parse_reports)
