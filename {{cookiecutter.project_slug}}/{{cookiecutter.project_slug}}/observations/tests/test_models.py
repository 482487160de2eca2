from datetime import datetime

import pytest
from django.db import IntegrityError, transaction

from ...devices.tests.factories import DeviceFactory
from .factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db

NOON = datetime.fromisoformat("2026-01-15T12:00:00+00:00")


def test_the_same_attribute_reading_cannot_be_stored_twice():
    reading = AttributeFactory.create(valid_at=NOON)

    with pytest.raises(IntegrityError), transaction.atomic():
        AttributeFactory.create(device=reading.device, name=reading.name, valid_at=NOON)


def test_the_same_status_reading_cannot_be_stored_twice():
    status = StatusFactory.create(valid_at=NOON)

    with pytest.raises(IntegrityError), transaction.atomic():
        StatusFactory.create(device=status.device, valid_at=NOON)


def test_readings_read_as_what_was_measured():
    device = DeviceFactory.create(name="Heater")

    reading = AttributeFactory.create(
        device=device, name="power", value=42.0, units="W", valid_at=NOON
    )
    status = StatusFactory.create(device=device, is_on=True, valid_at=NOON)

    assert str(reading) == "power=42W (Heater, 2026-01-15 12:00)"
    assert str(status) == "on (Heater, 2026-01-15 12:00)"
