from datetime import datetime, timedelta

import pytest

from ...devices.tests.factories import DeviceFactory
from ..queries import latest_readings
from .factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db

NOON = datetime.fromisoformat("2026-01-15T12:00:00+00:00")


def test_latest_readings_has_the_newest_of_each_name_and_status():
    device = DeviceFactory()
    for hour in range(3):
        AttributeFactory(
            device=device, name="temperature", value=hour, valid_at=NOON + timedelta(hours=hour)
        )
    AttributeFactory(device=device, name="power", value=7, valid_at=NOON)
    StatusFactory(device=device, is_on=True, valid_at=NOON)
    StatusFactory(device=device, is_on=False, valid_at=NOON + timedelta(hours=1))
    other_device = DeviceFactory()
    AttributeFactory(device=other_device, name="temperature", value=99, valid_at=NOON)

    latest = latest_readings(device)

    assert [(a.name, a.value) for a in latest.attributes] == [("power", 7), ("temperature", 2)]
    assert latest.status.is_on is False


def test_latest_readings_of_a_silent_device_are_empty():
    latest = latest_readings(DeviceFactory())

    assert latest.attributes == []
    assert latest.status is None
