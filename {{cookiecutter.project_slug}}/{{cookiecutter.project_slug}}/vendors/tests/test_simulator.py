"""The simulated cloud, called directly: deterministic readings, persisted switches, faults."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from ..base import RateLimited, StatusReading, UnknownDevice, VendorTimeout, VendorUnavailable
from ..models import SimulatedDevice
from ..simulator import SimulatedCloud, SimulatorOptions

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


def test_readings_within_one_period_have_the_same_values_and_timestamp(clock, plug):
    simulated = cloud(reading_period=60)
    clock.now = NOON + timedelta(seconds=5)
    first = simulated.read_attributes(["plug-1"])
    clock.now = NOON + timedelta(seconds=55)

    second = simulated.read_attributes(["plug-1"])

    assert second == first
    assert {reading.valid_at for reading in first} == {NOON}


def test_readings_of_the_next_period_are_new(clock, plug):
    simulated = cloud(reading_period=60)
    first = simulated.read_attributes(["plug-1"])
    clock.now = NOON + timedelta(seconds=60)

    second = simulated.read_attributes(["plug-1"])

    assert {reading.valid_at for reading in second} == {NOON + timedelta(seconds=60)}
    assert [reading.value for reading in second] != [reading.value for reading in first]


def test_every_cloud_reads_the_same_values_whatever_its_seed(plug):
    assert cloud(seed=1).read_attributes(["plug-1"]) == cloud(seed=2).read_attributes(["plug-1"])


def test_a_switch_is_persisted_and_stamped_when_it_happened(clock, plug):
    clock.now = NOON + timedelta(seconds=30)

    status = cloud().set_status("plug-1", False)

    assert status == StatusReading("plug-1", False, "standby", NOON + timedelta(seconds=30))
    plug.refresh_from_db()
    assert (plug.is_on, plug.switched_at) == (False, NOON + timedelta(seconds=30))
    (status_in_another_process,) = cloud().read_statuses(["plug-1"])
    assert status_in_another_process.is_on is False


def test_switching_a_device_to_the_state_it_is_in_keeps_its_switch_time(clock, plug):
    clock.now = NOON + timedelta(seconds=30)

    cloud().set_status("plug-1", True)

    plug.refresh_from_db()
    assert plug.switched_at == SWITCHED_YESTERDAY


def test_the_status_of_a_device_switched_long_ago_is_stamped_with_the_period_start(clock, plug):
    clock.now = NOON + timedelta(seconds=45)

    (status,) = cloud(reading_period=60).read_statuses(["plug-1"])

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
        cloud().read_attributes(["plug-1", "plug-9"])


def test_error_rate_one_raises_vendor_unavailable(plug):
    with pytest.raises(VendorUnavailable):
        cloud(error_rate=1.0).read_statuses(["plug-1"])


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
