"""The latest tables, kept by the database's triggers on both PostgreSQL and SQLite."""

from datetime import datetime, timedelta
from importlib import import_module

import pytest
from django.db import connection

from ...devices.tests.factories import DeviceFactory
from ..ingest import AttributeRow, StatusRow, store_attributes, store_statuses
from ..models import Attribute, LatestAttribute, LatestStatus
from .factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db

NOON = datetime.fromisoformat("2026-01-15T12:00:00+00:00")
latest_migration = import_module(f"{Attribute._meta.app_config.name}.migrations.0002_latest")


def kept_attributes(device) -> list[tuple]:
    return list(
        LatestAttribute.objects.filter(device=device)
        .order_by("name")
        .values_list("name", "value", "units", "valid_at")
    )


def test_a_reading_stored_through_the_orm_becomes_the_latest():
    reading = AttributeFactory.create(name="power", value=42, units="W", valid_at=NOON)

    assert kept_attributes(reading.device) == [("power", 42, "W", NOON)]


def test_a_newer_reading_replaces_the_latest_and_an_older_one_does_not():
    device = DeviceFactory.create()
    AttributeFactory.create(device=device, value=1, valid_at=NOON)
    AttributeFactory.create(device=device, value=2, valid_at=NOON + timedelta(minutes=5))
    AttributeFactory.create(device=device, value=0, valid_at=NOON - timedelta(minutes=5))

    assert [value for _, value, _, _ in kept_attributes(device)] == [2]


def test_one_batch_keeps_the_newest_reading_of_each_device_and_name():
    heater, pump = DeviceFactory.create_batch(2)
    rows = [
        AttributeRow(device.pk, name, minute, "x", NOON + timedelta(minutes=minute))
        for device in (heater, pump)
        for name in ("power", "temperature")
        # Out of order: the newest is in the middle of the batch.
        for minute in (3, 9, 1)
    ]

    store_attributes(rows)

    assert [(name, value) for name, value, _, _ in kept_attributes(pump)] == [
        ("power", 9),
        ("temperature", 9),
    ]
    assert LatestAttribute.objects.count() == 4


def test_a_batch_stored_again_leaves_the_latest_as_it_was():
    device = DeviceFactory.create()
    rows = [AttributeRow(device.pk, "power", 5, "W", NOON)]
    store_attributes(rows)
    store_attributes([AttributeRow(device.pk, "power", 6, "W", NOON + timedelta(minutes=1))])

    store_attributes(rows)

    assert kept_attributes(device) == [("power", 6, "W", NOON + timedelta(minutes=1))]


def test_statuses_keep_the_newest_of_each_device():
    device = DeviceFactory.create()
    store_statuses([StatusRow(device.pk, True, "on", NOON)])
    StatusFactory.create(
        device=device, is_on=False, state="standby", valid_at=NOON + timedelta(hours=1)
    )
    store_statuses([StatusRow(device.pk, True, "on", NOON + timedelta(minutes=30))])

    kept = LatestStatus.objects.get(device=device)

    assert (kept.is_on, kept.state, kept.valid_at) == (False, "standby", NOON + timedelta(hours=1))


def test_deleting_a_device_deletes_what_was_kept_for_it():
    reading = AttributeFactory.create()
    StatusFactory.create(device=reading.device)

    reading.device.delete()

    assert not LatestAttribute.objects.exists()
    assert not LatestStatus.objects.exists()


def test_the_migration_fills_the_latest_tables_from_the_readings_already_stored():
    device = DeviceFactory.create()
    for minutes in (0, 10, 5):
        taken = NOON + timedelta(minutes=minutes)
        AttributeFactory.create(device=device, name="power", value=minutes, valid_at=taken)
        StatusFactory.create(device=device, is_on=minutes == 10, valid_at=taken)
    LatestAttribute.objects.all().delete()
    LatestStatus.objects.all().delete()

    with connection.cursor() as cursor:
        for readings, (latest, key, copied) in latest_migration.KEPT.items():
            cursor.execute(latest_migration.fill(readings, latest, key, copied))

    assert kept_attributes(device) == [("power", 10, "°C", NOON + timedelta(minutes=10))]
    assert LatestStatus.objects.get(device=device).is_on is True
