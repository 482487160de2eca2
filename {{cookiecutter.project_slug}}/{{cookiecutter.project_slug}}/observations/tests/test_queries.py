from datetime import UTC, datetime, timedelta

import pytest

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ..queries import (
    HistoryBucket,
    LatestReadings,
    StatusReading,
    history,
    latest_for_devices,
    latest_readings,
)
from .factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db

NOON = datetime.fromisoformat("2026-01-15T12:00:00+00:00")


def test_latest_readings_has_the_newest_of_each_name_and_status():
    device = DeviceFactory.create()
    for hour in range(3):
        AttributeFactory.create(
            device=device, name="temperature", value=hour, valid_at=NOON + timedelta(hours=hour)
        )
    AttributeFactory.create(device=device, name="power", value=7, valid_at=NOON)
    StatusFactory.create(device=device, is_on=True, valid_at=NOON)
    StatusFactory.create(device=device, is_on=False, valid_at=NOON + timedelta(hours=1))
    other_device = DeviceFactory.create()
    AttributeFactory.create(device=other_device, name="temperature", value=99, valid_at=NOON)

    latest = latest_readings(device)

    assert [(a.name, a.value) for a in latest.attributes] == [("power", 7), ("temperature", 2)]
    assert latest.status is not None
    assert latest.status.is_on is False


def test_latest_readings_of_a_silent_device_are_empty():
    latest = latest_readings(DeviceFactory.create())

    assert latest.attributes == []
    assert latest.status is None


@pytest.mark.parametrize("devices", [3, 30])
def test_latest_for_devices_takes_two_queries_however_many_devices(
    devices, django_assert_num_queries
):
    for device in DeviceFactory.create_batch(devices):
        AttributeFactory.create(device=device, name="power", value=1, valid_at=NOON)
        AttributeFactory.create(
            device=device, name="power", value=2, valid_at=NOON + timedelta(hours=1)
        )
        AttributeFactory.create(device=device, name="temperature", value=3, valid_at=NOON)
        StatusFactory.create(device=device, valid_at=NOON)

    with django_assert_num_queries(2):
        latest = latest_for_devices(Device.objects.all())

    assert len(latest) == devices
    named_values = {tuple((a.name, a.value) for a in r.attributes) for r in latest.values()}
    assert named_values == {(("power", 2), ("temperature", 3))}
    assert all(readings.status is not None for readings in latest.values())


def test_latest_for_devices_has_only_the_devices_asked_for_that_reported():
    heater, pump, _silent = DeviceFactory.create_batch(3)
    AttributeFactory.create(device=heater, name="power", value=1, valid_at=NOON)
    StatusFactory.create(device=pump, is_on=False, state="standby", valid_at=NOON)

    latest = latest_for_devices(Device.objects.exclude(pk=heater.pk))

    assert latest == {pump.pk: LatestReadings(status=StatusReading(False, "standby", NOON))}


def test_history_aggregates_in_one_query_and_floors_each_moment_to_its_bucket(
    django_assert_num_queries,
):
    device = DeviceFactory.create()
    before_1970 = datetime(1969, 12, 31, 23, 59, tzinfo=UTC)
    for valid_at, value in [(before_1970, 4), (NOON, 1), (NOON + timedelta(minutes=59), 3)]:
        AttributeFactory.create(device=device, name="temperature", value=value, valid_at=valid_at)
    AttributeFactory.create(device=device, name="power", value=100, valid_at=NOON)

    with django_assert_num_queries(1):
        buckets = history(
            device.pk, "temperature", timedelta(hours=1), before_1970, NOON + timedelta(days=1)
        )

    assert buckets == [
        HistoryBucket(
            start=datetime(1969, 12, 31, 23, 0, tzinfo=UTC), avg=4, min=4, max=4, count=1
        ),
        HistoryBucket(start=NOON, avg=2, min=1, max=3, count=2),
    ]
