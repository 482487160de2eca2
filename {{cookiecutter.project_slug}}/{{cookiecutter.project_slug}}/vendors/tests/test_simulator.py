"""The simulated cloud, called directly: deterministic readings, persisted switches, faults."""

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from ..base import (
    AttributeReading,
    DeviceReport,
    MalformedPush,
    RateLimited,
    RequestRejected,
    StatusReading,
    UnknownDevice,
    VendorTimeout,
    VendorUnavailable,
)
from ..models import SimulatedDevice
from ..simulator import SimulatedCloud, SimulatorClient, SimulatorOptions
from ..simulator_api import report_json

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)
SWITCHED_YESTERDAY = NOON - timedelta(days=1)


@pytest.fixture
def clock(monkeypatch):
    """The simulator's clock, stopped at NOON; a test moves it by setting clock.now."""
    clock = SimpleNamespace(now=NOON)
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def plug(clock):
    return SimulatedDevice.objects.create(
        vendor_device_id="plug-1", name="Kitchen", is_on=True, switched_at=SWITCHED_YESTERDAY
    )


def cloud(**options) -> SimulatedCloud:
    return SimulatedCloud(SimulatorOptions(**options))


def readings_of(simulated: SimulatedCloud) -> tuple[AttributeReading, ...]:
    (report,) = simulated.read_devices(["plug-1"])
    return report.readings


def status_of(simulated: SimulatedCloud) -> StatusReading:
    (report,) = simulated.read_devices(["plug-1"])
    assert report.status is not None
    return report.status


@pytest.fixture
def sensor(clock):
    return SimulatedDevice.objects.create(
        vendor_device_id="sensor-1", name="Cellar", can_switch=False
    )


def test_a_sensor_is_listed_as_one_that_cannot_switch_and_reads_no_status(plug, sensor):
    simulated = cloud()

    listed = simulated.list_devices()
    reports = simulated.read_devices(["plug-1", "sensor-1"])

    assert [(d.vendor_device_id, d.can_switch, d.reading_names) for d in listed] == [
        ("plug-1", True, ("power", "temperature")),
        ("sensor-1", False, ("temperature",)),
    ]
    assert [r.status is not None for r in reports] == [True, False]
    assert [[reading.name for reading in r.readings] for r in reports] == [
        ["power", "temperature"],
        ["temperature"],
    ]


def test_switching_a_sensor_is_refused(sensor):
    with pytest.raises(RequestRejected, match="sensor-1"):
        cloud().set_status("sensor-1", True)

    sensor.refresh_from_db()
    assert sensor.set_status_calls == 0


def test_an_offline_device_is_reported_offline_with_nothing_else(plug):
    SimulatedDevice.objects.filter(pk=plug.pk).update(online=False)

    assert cloud().read_devices(["plug-1"]) == [DeviceReport("plug-1", online=False)]


def test_readings_within_one_period_have_the_same_values_and_timestamp(clock, plug):
    simulated = cloud(reading_period=60)
    clock.now = NOON + timedelta(seconds=5)
    first = readings_of(simulated)
    clock.now = NOON + timedelta(seconds=55)

    second = readings_of(simulated)

    assert second == first
    assert {reading.valid_at for reading in first} == {NOON}


def test_readings_of_the_next_period_are_new(clock, plug):
    simulated = cloud(reading_period=60)
    first = readings_of(simulated)
    clock.now = NOON + timedelta(seconds=60)

    second = readings_of(simulated)

    assert {reading.valid_at for reading in second} == {NOON + timedelta(seconds=60)}
    assert [reading.value for reading in second] != [reading.value for reading in first]


def test_every_cloud_reads_the_same_values_whatever_its_seed(plug):
    assert readings_of(cloud(seed=1)) == readings_of(cloud(seed=2))


def test_a_switch_is_persisted_and_stamped_when_it_happened(clock, plug):
    clock.now = NOON + timedelta(seconds=30)

    status = cloud().set_status("plug-1", False)

    assert status == StatusReading("plug-1", False, "standby", NOON + timedelta(seconds=30))
    plug.refresh_from_db()
    assert (plug.is_on, plug.switched_at) == (False, NOON + timedelta(seconds=30))
    status_in_another_process = status_of(cloud())
    assert status_in_another_process.is_on is False


def test_switching_a_device_to_the_state_it_is_in_keeps_its_switch_time(clock, plug):
    clock.now = NOON + timedelta(seconds=30)

    cloud().set_status("plug-1", True)

    plug.refresh_from_db()
    assert plug.switched_at == SWITCHED_YESTERDAY


def test_the_status_of_a_device_switched_long_ago_is_stamped_with_the_period_start(clock, plug):
    clock.now = NOON + timedelta(seconds=45)

    status = status_of(cloud(reading_period=60))

    assert status.valid_at == NOON


def test_every_switch_it_carries_out_is_counted_and_a_refused_one_is_not(plug):
    cloud().set_status("plug-1", False)
    cloud().set_status("plug-1", False)
    with pytest.raises(VendorUnavailable):
        cloud(error_rate=1.0).set_status("plug-1", True)

    plug.refresh_from_db()
    assert (plug.set_status_calls, plug.is_on) == (2, False)


def test_an_unknown_device_raises_unknown_device_naming_it(plug):
    with pytest.raises(UnknownDevice, match="plug-9"):
        cloud().read_devices(["plug-1", "plug-9"])


def test_error_rate_one_raises_vendor_unavailable(plug):
    with pytest.raises(VendorUnavailable):
        cloud(error_rate=1.0).read_devices(["plug-1"])


def test_a_call_beyond_max_concurrent_calls_raises_rate_limited_with_retry_after(plug):
    simulated = cloud(max_concurrent_calls=1, retry_after=3.0)

    with simulated.call(), pytest.raises(RateLimited) as raised:
        simulated.list_devices()

    assert raised.value.retry_after == 3.0


def test_a_failed_call_frees_its_slot(plug):
    simulated = cloud(max_concurrent_calls=1, error_rate=1.0)

    for _ in range(2):
        # A slot that stayed taken would turn the second call into RateLimited.
        with pytest.raises(VendorUnavailable):
            simulated.list_devices()


def test_timeout_rate_one_raises_vendor_timeout(plug):
    with pytest.raises(VendorTimeout):
        cloud(timeout_rate=1.0, timeout=0.01).list_devices()


def test_what_the_simulator_pushes_is_read_back_as_what_it_reads(plug, sensor):
    reports = cloud().read_devices(["plug-1", "sensor-1"])
    body = json.dumps({"devices": [report_json(report) for report in reports]}).encode()

    assert SimulatorClient().parse_push(body) == reports


def test_a_push_the_simulator_cannot_read_is_malformed():
    with pytest.raises(MalformedPush, match="no 'id' field"):
        SimulatorClient().parse_push(b'{"devices": [{"online": true}]}')
