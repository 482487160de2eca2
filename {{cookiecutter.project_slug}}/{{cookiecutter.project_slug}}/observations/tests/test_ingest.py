from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from .. import ingest
from ..ingest import (
    AttributeRow,
    StatusRow,
    backfill_attributes,
    backfill_statuses,
    store_attributes,
    store_statuses,
)
from ..models import Attribute, LatestAttribute, Status

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def readings(device, count, start=NOON):
    return [
        AttributeRow(device.pk, "temperature", 20 + i / 10, "°C", start + timedelta(minutes=i))
        for i in range(count)
    ]


def test_new_readings_are_stored_and_their_keys_returned():
    device = DeviceFactory.create()
    before = timezone.now()

    keys = store_attributes(readings(device, 5))

    assert sorted(keys) == sorted(Attribute.objects.values_list("pk", flat=True))
    stored = Attribute.objects.get(valid_at=NOON + timedelta(minutes=3))
    assert (stored.name, stored.value, stored.units) == ("temperature", 20.3, "°C")
    # Stamped with this project's clock when stored, beside the vendor's valid_at.
    assert before <= stored.recorded_at <= timezone.now()


def test_storing_the_same_readings_again_adds_nothing_and_returns_no_keys():
    device = DeviceFactory.create()
    store_attributes(readings(device, 5))

    assert store_attributes(readings(device, 5)) == []
    assert Attribute.objects.count() == 5


def test_only_the_new_part_of_an_overlapping_batch_is_stored():
    device = DeviceFactory.create()
    store_attributes(readings(device, 5))

    keys = store_attributes(readings(device, 5, start=NOON + timedelta(minutes=3)))

    assert len(keys) == 3
    assert Attribute.objects.count() == 8


def test_a_reading_repeated_within_one_batch_is_stored_once():
    device = DeviceFactory.create()
    row = readings(device, 1)[0]

    assert len(store_attributes([row, row])) == 1


def test_batches_larger_than_a_statement_are_split(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(ingest, "SQLITE_CHUNK", 7)
    monkeypatch.setattr(ingest, "POSTGRESQL_CHUNK", 7)
    device = DeviceFactory.create()

    # 30 rows, 7 a statement: four full chunks and the last two rows.
    with django_assert_num_queries(5):
        keys = store_attributes(iter(readings(device, 30)))

    assert len(keys) == 30 == Attribute.objects.count()


@pytest.mark.parametrize("store", [store_attributes, backfill_attributes])
def test_a_generator_is_read_one_chunk_ahead_of_each_write(store, monkeypatch):
    monkeypatch.setattr(ingest, "SQLITE_CHUNK", 7)
    monkeypatch.setattr(ingest, "POSTGRESQL_CHUNK", 7)
    device = DeviceFactory.create()
    stored_when_taken = []

    def generated():
        for row in readings(device, 30):
            stored_when_taken.append(Attribute.objects.count())
            yield row

    store(generated())

    # Never the whole input first: memory stays one chunk's worth, however long the input.
    assert stored_when_taken == [0] * 7 + [7] * 7 + [14] * 7 + [21] * 7 + [28] * 2
    assert Attribute.objects.count() == 30


def test_a_backfill_returns_how_many_rows_were_new_across_chunks(monkeypatch):
    monkeypatch.setattr(ingest, "SQLITE_CHUNK", 7)
    monkeypatch.setattr(ingest, "POSTGRESQL_CHUNK", 7)
    device = DeviceFactory.create()
    store_attributes(readings(device, 10, start=NOON + timedelta(minutes=10)))

    # 30 readings, of which the middle 10 are stored already: 20 new, over five statements.
    assert backfill_attributes(iter(readings(device, 30))) == 20
    assert backfill_attributes(iter(readings(device, 30))) == 0
    assert Attribute.objects.count() == 30


def test_a_reading_repeated_within_one_backfill_is_stored_once():
    device = DeviceFactory.create()
    row = readings(device, 1)[0]

    assert (
        backfill_attributes([row, *readings(device, 3, start=NOON + timedelta(hours=1)), row]) == 4
    )
    assert Attribute.objects.count() == 4


def test_a_backfill_keeps_the_latest_readings():
    device = DeviceFactory.create()
    store_attributes(readings(device, 3, start=NOON + timedelta(days=1)))

    backfill_attributes(readings(device, 5))
    backfill_attributes(readings(device, 5, start=NOON + timedelta(days=2)))

    latest = LatestAttribute.objects.get(device=device, name="temperature")
    assert latest.valid_at == NOON + timedelta(days=2, minutes=4)


def test_a_status_backfill_returns_how_many_were_new():
    device, other = DeviceFactory.create(), DeviceFactory.create()
    store_statuses([StatusRow(device.pk, True, "on", NOON)])
    rows = [StatusRow(device.pk, True, "on", NOON), StatusRow(other.pk, False, "standby", NOON)]

    assert backfill_statuses(row for row in rows) == 1
    assert Status.objects.count() == 2


def test_statuses_are_unique_per_device_and_time():
    device, other = DeviceFactory.create(), DeviceFactory.create()
    rows = [StatusRow(device.pk, True, "on", NOON), StatusRow(other.pk, False, "standby", NOON)]

    assert len(store_statuses(rows)) == 2
    assert store_statuses(rows) == []
    assert Status.objects.get(device=other).state == "standby"


def test_the_vendors_time_is_kept_to_the_microsecond():
    device = DeviceFactory.create()
    taken = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)

    store_statuses([StatusRow(device.pk, True, "on", taken)])

    assert Status.objects.get().valid_at == taken
