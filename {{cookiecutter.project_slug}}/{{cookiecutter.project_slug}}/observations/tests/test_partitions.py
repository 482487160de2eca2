"""Time partitions of the readings on PostgreSQL, plain tables on SQLite: both keep every reading
stored, and prune the same rows."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ..ingest import AttributeRow, StatusRow, store_attributes, store_statuses
from ..models import Attribute, LatestAttribute, Status
from ..partitions import (
    AHEAD,
    READINGS_TABLES,
    Partition,
    add_partitions,
    default_partition,
    is_partitioned,
    missing_ranges,
    partition_start,
    partition_width,
    partitions,
    prune_readings,
)

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = connection.vendor == "postgresql"
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)


def table_holding(model, pk) -> str:
    """The table a row is stored in: a partition's name on PostgreSQL."""
    table = model._meta.db_table
    if not ON_POSTGRESQL:
        return table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        (name,) = cursor.fetchone()
    return name


def test_the_readings_tables_are_partitioned_on_postgresql_only():
    assert [is_partitioned(table) for table in READINGS_TABLES] == [ON_POSTGRESQL] * 2


def test_a_day_per_partition_unless_readings_are_kept_longer_than_half_a_year():
    assert (partition_width(90), partition_width(180), partition_width(365)) == (DAY, DAY, WEEK)


def test_a_partition_starts_at_midnight_utc_and_a_weeks_on_a_monday():
    moment = MONDAY + timedelta(days=3, hours=5)

    assert partition_start(moment, DAY) == MONDAY + timedelta(days=3)
    assert partition_start(moment, WEEK) == MONDAY
    assert partition_start(datetime(1969, 12, 31, 23, tzinfo=UTC), DAY).day == 31


def test_missing_ranges_extend_the_existing_ones_at_both_ends_without_overlap():
    existing = [Partition("p", MONDAY + DAY, MONDAY + 2 * DAY)]

    ranges = list(missing_ranges(existing, MONDAY - DAY, MONDAY + 9 * DAY, WEEK))

    # Back to the week before; ahead, to the next Monday, then whole weeks.
    assert ranges == [
        (MONDAY, MONDAY + DAY),
        (MONDAY - WEEK, MONDAY),
        (MONDAY + 2 * DAY, MONDAY + WEEK),
        (MONDAY + WEEK, MONDAY + 2 * WEEK),
    ]


def test_partitions_cover_the_retention_window_and_a_week_ahead(settings):
    now = timezone.now()

    added = add_partitions(now)

    if not ON_POSTGRESQL:
        assert str(added) == "nothing to do: the readings tables are not partitioned (SQLite)"
        return
    # Created when the test database was migrated: nothing left to add.
    assert (added.tables, added.partitions) == (2, 0)
    for table in READINGS_TABLES:
        existing = partitions(table)
        cutoff = now - timedelta(days=settings.OBSERVATION_RETENTION_DAYS)
        assert existing[0].start <= cutoff and existing[-1].end >= now + AHEAD
        assert all(a.end == b.start for a, b in pairwise(existing))


def test_readings_far_outside_the_partitions_are_stored_with_the_rest_of_their_batch():
    device = DeviceFactory.create()
    now = timezone.now()
    moments = [datetime(1970, 1, 1, tzinfo=UTC), now, datetime(2099, 1, 1, tzinfo=UTC)]

    keys = store_attributes([AttributeRow(device.pk, "power", 1, "W", at) for at in moments])
    status_keys = store_statuses([StatusRow(device.pk, True, "on", at) for at in moments])

    assert len(keys) == len(status_keys) == 3
    assert sorted(Attribute.objects.values_list("valid_at", flat=True)) == moments
    assert Status.objects.count() == 3
    held_in = [table_holding(Attribute, key) for key in sorted(keys)]
    if ON_POSTGRESQL:
        default = default_partition(Attribute._meta.db_table)
        assert held_in[0] == held_in[2] == default != held_in[1]
        assert held_in[1] == f"{Attribute._meta.db_table}_p{now:%Y%m%d}"
    # The vendor's clock says 2099: that is its newest reading.
    assert LatestAttribute.objects.get(device=device).valid_at == moments[2]


def test_a_new_partition_takes_its_readings_from_the_default_one():
    device = DeviceFactory.create()
    now = timezone.now()
    later = now + AHEAD + 2 * DAY
    (key,) = store_attributes([AttributeRow(device.pk, "power", 1, "W", later)])
    table = Attribute._meta.db_table
    before = table_holding(Attribute, key)

    added = add_partitions(later)

    if not ON_POSTGRESQL:
        assert before == table and added.partitions == 0
        return
    assert before == default_partition(table)
    assert added.moved == 1 and added.partitions >= 2 * 2
    assert table_holding(Attribute, key) == f"{table}_p{later:%Y%m%d}"
    assert str(added).endswith(" partitions added, 1 readings moved from the default partitions")


def test_prune_drops_partitions_past_the_window_and_deletes_inside_the_boundary_one():
    device = DeviceFactory.create()
    boundary = partition_start(timezone.now() - timedelta(days=30), DAY)
    cutoff = boundary + timedelta(hours=12)
    moments = {
        "in a partition past the window": boundary - 10 * DAY,
        "in the boundary partition, before the cutoff": boundary + timedelta(hours=1),
        "in the boundary partition, after the cutoff": boundary + timedelta(hours=13),
        "now": timezone.now(),
        "in 1970": datetime(1970, 1, 1, tzinfo=UTC),
        "in 2099": datetime(2099, 1, 1, tzinfo=UTC),
    }
    store_attributes([AttributeRow(device.pk, "power", 1, "W", at) for at in moments.values()])
    store_statuses([StatusRow(device.pk, True, "on", boundary - 10 * DAY)])
    past = {
        table: [p for p in partitions(table) if p.end <= cutoff] if ON_POSTGRESQL else []
        for table in READINGS_TABLES
    }

    pruned = prune_readings(cutoff)

    kept = [moments[k] for k in ("in the boundary partition, after the cutoff", "now", "in 2099")]
    assert sorted(Attribute.objects.values_list("valid_at", flat=True)) == sorted(kept)
    assert not Status.objects.exists()
    assert pruned.partitions == sum(len(dropped) for dropped in past.values())
    if ON_POSTGRESQL:
        # The rows of dropped partitions go uncounted; those deleted one by one are counted.
        assert pruned.rows == 2  # the boundary partition's, and 1970's in the default one
        assert pruned.partitions > 0 and pruned.partition_bytes > 0
        assert type(pruned.partition_bytes) is int  # not the numeric PostgreSQL sums into
        assert str(pruned).endswith(" MB), 2 rows deleted")
        for table in READINGS_TABLES:
            assert partitions(table)[0].start == boundary
    else:
        assert pruned.rows == 4
    # The latest table keeps what it had: readings are pruned, not what a device said last.
    assert LatestAttribute.objects.get(device=device).valid_at == moments["in 2099"]


@pytest.mark.django_db(transaction=True)
def test_a_project_migrated_to_partitions_keeps_its_readings_and_their_latest():
    """Back to the plain tables a project had before partitions, with readings stored there;
    forward again: every row, its id, the latest tables and idempotent ingest are as before."""
    device = DeviceFactory.create()
    now = timezone.now()
    moments = [datetime(1970, 1, 1, tzinfo=UTC), now - 200 * DAY, now - 5 * DAY, now]
    rows = [AttributeRow(device.pk, "power", i, "W", at) for i, at in enumerate(moments)]
    statuses = [StatusRow(device.pk, i % 2 == 0, "on", at) for i, at in enumerate(moments)]
    migrate_to("0003_export")
    try:
        assert not any(is_partitioned(table) for table in READINGS_TABLES)
        store_attributes(rows)
        store_statuses(statuses)
        stored = stored_readings()
        latest = list(LatestAttribute.objects.values_list("device_id", "name", "value", "valid_at"))
    finally:
        migrate_to(None)

    assert [is_partitioned(table) for table in READINGS_TABLES] == [ON_POSTGRESQL] * 2
    assert stored_readings() == stored
    assert (
        list(LatestAttribute.objects.values_list("device_id", "name", "value", "valid_at"))
        == latest
        == [(device.pk, "power", 3, now)]
    )
    assert store_attributes(rows) == [] and store_statuses(statuses) == []
    (new_key,) = store_attributes([AttributeRow(device.pk, "power", 9, "W", now + DAY)])
    assert new_key > max(key for key, *_ in stored[Attribute])
    assert LatestAttribute.objects.get(device=device).value == 9


def stored_readings() -> dict:
    return {
        Attribute: list(Attribute.objects.order_by("pk").values_list("pk", "value", "valid_at")),
        Status: list(Status.objects.order_by("pk").values_list("pk", "is_on", "valid_at")),
    }


def migrate_to(name: str | None) -> None:
    """Migrate the observations app to migration `name`, or to its latest."""
    executor = MigrationExecutor(connection)
    app = Attribute._meta.app_label
    target = (app, name) if name else executor.loader.graph.leaf_nodes(app)[0]
    executor.migrate([target])
