from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from ...devices.tests.factories import DeviceFactory
from ..models import Attribute, Status
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


def test_storing_a_batch_twice_adds_no_rows():
    device = DeviceFactory.create()

    def batch():
        return [
            Attribute(
                device=device,
                name="temperature",
                value=20 + i,
                valid_at=NOON + timedelta(minutes=i),
            )
            for i in range(10)
        ]

    Attribute.objects.bulk_create(batch(), ignore_conflicts=True)
    Attribute.objects.bulk_create(batch(), ignore_conflicts=True)

    assert Attribute.objects.filter(device=device).count() == 10


def test_latest_follows_the_vendors_clock_not_insertion_order():
    device = DeviceFactory.create()
    AttributeFactory.create(device=device, value=2, valid_at=NOON + timedelta(hours=1))
    AttributeFactory.create(device=device, value=1, valid_at=NOON)

    assert Attribute.objects.filter(device=device).latest().value == 2


def test_readings_read_as_what_was_measured():
    device = DeviceFactory.create(name="Heater")

    reading = AttributeFactory.create(
        device=device, name="power", value=42.0, units="W", valid_at=NOON
    )
    status = StatusFactory.create(device=device, is_on=True, valid_at=NOON)

    assert str(reading) == "power=42W (Heater, 2026-01-15 12:00)"
    assert str(status) == "on (Heater, 2026-01-15 12:00)"
    assert Status._meta.get_latest_by == "valid_at"
