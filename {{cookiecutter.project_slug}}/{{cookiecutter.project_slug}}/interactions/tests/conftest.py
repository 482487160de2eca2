from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
{%- if cookiecutter.scheduler == "celery-beat" %}
from kombu.exceptions import OperationalError
{%- endif %}

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...vendors.base import (
    AttributeReading,
    DeviceInfo,
    DeviceReport,
    StatusReading,
    UnknownDevice,
    VendorClient,
    VendorUnavailable,
)
from ...vendors.models import SimulatedDevice
from .. import schedule

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class FakeVendor(VendorClient):
    """A vendor that answers from a script: each call pops the next answer or error.

    Devices can also be made to fail at every read: `unreachable` ones fail their whole batch
    with a 503 (`flaky` ones, as many times as they are given), `unknown` ones are refused for
    good, `undated` ones read without a time, which the database refuses. The vendor says
    whether a device is online only for those in `online`. With `echoes` False, it accepts
    commands without saying the new state.
    """

    def __init__(self, batch_size: int = 50):
        self.batch_size = batch_size
        self.calls: list[tuple[str, tuple]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.is_on: dict[str, bool] = {}
        self.unreachable: set[str] = set()
        self.flaky: dict[str, int] = {}
        self.unknown: set[str] = set()
        self.undated: set[str] = set()
        self.online: dict[str, bool] = {}
        self.echoes = True

    def fail(self, method: str, *errors: Exception) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def _call(self, method: str, *args) -> None:
        self.calls.append((method, args))
        if self.failures.get(method):
            raise self.failures[method].pop(0)

    def list_devices(self) -> list[DeviceInfo]:
        self._call("list_devices")
        return []

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        self._call("read_devices", tuple(vendor_device_ids))
        if self.unreachable.intersection(vendor_device_ids) or self._flakes(vendor_device_ids):
            raise VendorUnavailable("503")
        if unknown := sorted(self.unknown.intersection(vendor_device_ids)):
            raise UnknownDevice(f"no device {', '.join(unknown)}")
        return [self._report(i) for i in vendor_device_ids]

    def _flakes(self, vendor_device_ids: Sequence[str]) -> bool:
        flaky = [i for i in vendor_device_ids if self.flaky.get(i)]
        for vendor_device_id in flaky:
            self.flaky[vendor_device_id] -= 1
        return bool(flaky)

    def _report(self, vendor_device_id: str) -> DeviceReport:
        is_on = self.is_on.get(vendor_device_id, True)
        # An undated reading breaks the interface's promise, so that the database refuses it.
        valid_at = cast(datetime, None) if vendor_device_id in self.undated else NOON
        return DeviceReport(
            vendor_device_id,
            StatusReading(vendor_device_id, is_on, "on", NOON),
            (AttributeReading(vendor_device_id, "temperature", 21.5, "°C", valid_at),),
            online=self.online.get(vendor_device_id),
        )

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading | None:
        self._call("set_status", vendor_device_id, is_on)
        self.is_on[vendor_device_id] = is_on
        if not self.echoes:
            return None
        return StatusReading(vendor_device_id, is_on, "on" if is_on else "off", NOON)


class CountingVendor(FakeVendor):
    """A vendor of one device per call that counts the calls in flight. Each read waits for
    `at_once` reads to be in flight together: calls fanned out narrower than that never get
    past the first reads (the wait gives up, and the refresh fails), and wider ones show in
    most_at_once."""

    def __init__(self, at_once: int):
        super().__init__(batch_size=1)
        self._together = threading.Barrier(at_once, timeout=10)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_at_once = 0

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        with self._lock:
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        try:
            self._together.wait()
            return super().read_devices(vendor_device_ids)
        finally:
            with self._lock:
                self._in_flight -= 1


@pytest.fixture
def fake_vendor(settings, monkeypatch):
    """Devices of vendor "fake" talk to a FakeVendor."""
    from ...vendors import registry

    vendor = FakeVendor()
    settings.VENDORS = {**settings.VENDORS, "fake": {"CLIENT": "unused"}}
    monkeypatch.setitem(registry._clients, "fake", vendor)
    return vendor


@pytest.fixture
def simulated_devices(db):
    """Three devices of the simulated vendor, known to it and to the project."""

    def make(count: int = 3):
        devices = []
        for number in range(count):
            vendor_device_id = f"sim-{number:05d}"
            SimulatedDevice.objects.create(vendor_device_id=vendor_device_id, name=f"Plug {number}")
            devices.append(
                DeviceFactory.create(vendor="simulator", vendor_device_id=vendor_device_id)
            )
        return devices

    return make


@dataclass(frozen=True)
class RoundScenario:
    devices: list[Device]
    # What the round's record must say, whichever scheduler ran it.
    outcome: str
    detail: str
    refreshed: int
    failed: int


@pytest.fixture
def troubled_round(fake_vendor):
    """Five devices in one batch of three calls: the first call's vendor is down, the last
    device is unknown to its vendor, the two in between answer."""
    fake_vendor.batch_size = 2
    devices = DeviceFactory.create_batch(5, vendor="fake")
    fake_vendor.unreachable = {devices[1].vendor_device_id}
    fake_vendor.unknown = {devices[4].vendor_device_id}
    return RoundScenario(
        devices,
        outcome="failed",
        detail="2 devices refreshed, 3 failed; 1 of 1 batches failed: VendorUnavailable: 503",
        refreshed=2,
        failed=3,
    )


@pytest.fixture
def firmware_job(monkeypatch) -> schedule.PeriodicJob:
    """A periodic job added as a team adds one: its entry in schedule.py, and its function."""

    def pull_firmware() -> str:
        return "3 devices run the latest firmware"

    job = schedule.PeriodicJob(
        name="pull_firmware",
        run=pull_firmware,
        every=timedelta(hours=6),
        description="Read which firmware each device runs.",
    )
    listed = schedule.periodic_jobs
    monkeypatch.setattr(schedule, "periodic_jobs", lambda: (*listed(), job))
    return job
{%- if cookiecutter.scheduler == "celery-beat" %}


class TaskQueue:
    """The task queue as a test sees it: refusing every message, as while Redis restarts,
    until `is_up`; then keeping what it is sent, by task name."""

    def __init__(self) -> None:
        self.is_up = False
        self.published: list[tuple[str, tuple]] = []

    def delay_of(self, name: str):
        def delay(*args, **kwargs):
            if not self.is_up:
                raise OperationalError("Error 111 connecting to 127.0.0.1:6379.")
            self.published.append((name, args))

        return delay


@pytest.fixture
def queue_down(monkeypatch) -> TaskQueue:
    from ..tasks import refresh_devices, send_command

    queue = TaskQueue()
    for task in (send_command, refresh_devices):
        monkeypatch.setattr(task, "delay", queue.delay_of(task.name))
    return queue
{%- endif %}
