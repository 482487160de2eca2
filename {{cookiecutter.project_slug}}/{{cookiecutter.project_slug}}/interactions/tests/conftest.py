from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ...devices.tests.factories import DeviceFactory
from ...vendors.base import AttributeReading, DeviceInfo, StatusReading, VendorClient
from ...vendors.models import SimulatedDevice

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class FakeVendor(VendorClient):
    """A vendor that answers from a script: each call pops the next answer or error."""

    def __init__(self, batch_size: int = 50):
        self.batch_size = batch_size
        self.calls: list[tuple[str, tuple]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.is_on: dict[str, bool] = {}

    def fail(self, method: str, *errors: Exception) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def _call(self, method: str, *args) -> None:
        self.calls.append((method, args))
        if self.failures.get(method):
            raise self.failures[method].pop(0)

    def list_devices(self) -> list[DeviceInfo]:
        self._call("list_devices")
        return []

    def read_statuses(self, vendor_device_ids: Sequence[str]) -> list[StatusReading]:
        self._call("read_statuses", tuple(vendor_device_ids))
        return [StatusReading(i, self.is_on.get(i, True), "on", NOON) for i in vendor_device_ids]

    def read_attributes(self, vendor_device_ids: Sequence[str]) -> list[AttributeReading]:
        self._call("read_attributes", tuple(vendor_device_ids))
        return [AttributeReading(i, "temperature", 21.5, "°C", NOON) for i in vendor_device_ids]

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading:
        self._call("set_status", vendor_device_id, is_on)
        self.is_on[vendor_device_id] = is_on
        return StatusReading(vendor_device_id, is_on, "on" if is_on else "off", NOON)


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
