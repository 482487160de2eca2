import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
{%- if cookiecutter.scheduler == "celery-beat" %}
from django.db import connection
from django.utils import timezone
{%- endif %}

from ...devices.tests.factories import DeviceFactory{% if cookiecutter.scheduler == "celery-beat" %}, UserFactory{% endif %}
{%- if cookiecutter.scheduler == "celery-beat" %}
from ...interactions import jobs
{%- endif %}
from .. import exports
from ..exports import Position, Wanted, next_rows
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..models import Attribute, Export, ExportPart
from ..tasks import export_readings
{%- else %}
from ..models import Attribute
{%- endif %}

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)


def readings(device, names=("power", "temperature"), count=3, start=START):
    """`count` readings of each name, a minute apart from `start`."""
    Attribute.objects.bulk_create(
        Attribute(
            device=device,
            name=name,
            value=number,
            units="u",
            valid_at=start + timedelta(minutes=number),
        )
        for name in names
        for number in range(count)
    )


def every_row(wanted: Wanted, limit: int) -> tuple[list, int]:
    """All the rows, read `limit` at a time from the start; and how many reads it took."""
    rows: list = []
    at: Position | None = Position()
    reads = 0
    while at is not None:
        part, at = next_rows(wanted, at, limit)
        rows += part
        reads += 1
    return rows, reads


def in_index_order(wanted: Wanted) -> list:
    order = {device_id: index for index, device_id in enumerate(wanted.device_ids)}
    found = Attribute.objects.filter(
        device_id__in=wanted.device_ids, valid_at__gte=wanted.since, valid_at__lt=wanted.until
    )
    if wanted.names:
        found = found.filter(name__in=wanted.names)
    rows = found.values_list("device_id", "name", "value", "units", "valid_at")
    return sorted(rows, key=lambda row: (order[row[0]], row[1], row[4]))


@pytest.mark.parametrize("limit", [1, 2, 5, 6, 7, 100])
def test_parts_of_any_size_hold_every_reading_once_in_order(limit):
    first, second, empty, third = DeviceFactory.create_batch(4)
    for device in (first, second, third):
        readings(device)
    wanted = Wanted([third.pk, first.pk, empty.pk, second.pk], [], START, START + timedelta(1))

    rows, reads = every_row(wanted, limit)

    assert rows == in_index_order(wanted)
    assert len(rows) == 18
    assert reads <= 18 // limit + 4  # one read a part, and one more per device at most


def test_only_the_names_and_times_asked_for_are_exported():
    device = DeviceFactory.create()
    readings(device, names=("energy", "power", "temperature"), count=10)
    since, until = START + timedelta(minutes=2), START + timedelta(minutes=5)
    wanted = Wanted([device.pk], ["temperature", "energy"], since, until)

    rows, _ = every_row(wanted, limit=2)

    assert [(name, value) for _, name, value, _, _ in rows] == [
        ("energy", 2.0),
        ("energy", 3.0),
        ("energy", 4.0),
        ("temperature", 2.0),
        ("temperature", 3.0),
        ("temperature", 4.0),
    ]


def test_a_request_is_the_same_whatever_the_order_it_is_asked_in():
    later = START + timedelta(days=1)
    same = Wanted([1, 2], ["a", "b"], START, later)

    assert same.key() == Wanted([2, 1], ["b", "a"], START, later).key()
    assert same.key() == Wanted([1, 2], ["a", "b"], START.astimezone(), later).key()
    assert same.key() != Wanted([1, 2], ["a"], START, later).key()
    assert same.key() != Wanted([1, 2], ["a", "b"], START, later + timedelta(seconds=1)).key()


def test_lines_name_the_device_and_give_times_in_utc():
    device = DeviceFactory.create(name='Plug "A", kitchen')
    readings(device, names=("power",), count=1)
    rows, _ = every_row(Wanted([device.pk], [], START, START + timedelta(1)), limit=10)

    text = exports.header() + exports.csv_lines(rows, {device.pk: device.name})

    assert list(csv.reader(io.StringIO(text))) == [
        ["device_id", "device", "name", "value", "units", "valid_at"],
        [str(device.pk), 'Plug "A", kitchen', "power", "0.0", "u", "2026-03-01T00:00:00+00:00"],
    ]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text(start):
    device = DeviceFactory.create(name=f'{start}HYPERLINK("https://example.com/x")')
    readings(device, names=(f"{start}power",), count=1)
    rows, _ = every_row(Wanted([device.pk], [], START, START + timedelta(1)), limit=10)

    text = exports.csv_lines(rows, {device.pk: device.name})

    (line,) = csv.reader(io.StringIO(text, newline=""))
    assert line[1:3] == [f"'{device.name}", f"'{start}power"]
{%- if cookiecutter.scheduler == "celery-beat" %}


def export_of(owner, devices, **fields) -> Export:
    wanted = Wanted([device.pk for device in devices], [], START, START + timedelta(1))
    export, _ = exports.find_or_create(owner, wanted)
    if fields:
        Export.objects.filter(pk=export.pk).update(**fields)
        export.refresh_from_db()
    return export


def file_of(export: Export) -> str:
    return "".join(exports.download(export))


def test_an_export_stopped_after_any_part_goes_on_where_it_ended(monkeypatch):
    monkeypatch.setattr(exports, "PART_ROWS", 4)
    devices = DeviceFactory.create_batch(3)
    for device in devices:
        readings(device)
    export = export_of(UserFactory.create(), devices)

    # No time at all: each call writes one part, as a task stopped (or killed) after it.
    calls = 1
    while not exports.write_parts(export.pk, seconds=0):
        calls += 1
    export.refresh_from_db()
    rows, _ = every_row(exports.wanted_by(export), limit=1000)

    assert (export.state, export.rows, calls) == ("succeeded", 18, 5)
    assert list(export.parts.values_list("first_row", flat=True)) == [0, 4, 8, 12, 16]
    assert file_of(export) == exports.header() + exports.csv_lines(
        rows, {device.pk: device.name for device in devices}
    )


def test_writing_forgets_the_statements_debug_keeps(monkeypatch, settings):
    # With DEBUG on, Django keeps each statement with its parameters: every part's CSV.
    settings.DEBUG = True
    monkeypatch.setattr(exports, "PART_ROWS", 2)
    device = DeviceFactory.create()
    readings(device)
    export = export_of(UserFactory.create(), [device])

    exports.write_parts(export.pk, seconds=60)

    assert [query for query in connection.queries if "exportpart" in query["sql"]] == []
    assert ExportPart.objects.count() == 3


def test_a_settled_export_is_not_written_again():
    device = DeviceFactory.create()
    readings(device)
    export = export_of(UserFactory.create(), [device])
    assert exports.write_parts(export.pk, seconds=60)

    assert exports.write_parts(export.pk, seconds=60)
    exports.fail(export.pk, "too late")

    export.refresh_from_db()
    assert (export.state, export.rows, export.error) == ("succeeded", 6, "")
    assert ExportPart.objects.count() == 1


def test_an_export_of_no_readings_succeeds_empty():
    export = export_of(UserFactory.create(), [DeviceFactory.create()])

    assert exports.write_parts(export.pk, seconds=60)

    export.refresh_from_db()
    assert (export.state, export.rows, file_of(export)) == ("succeeded", 0, exports.header())


def test_the_same_request_gets_the_same_export_until_it_is_old_or_failed(settings):
    settings.EXPORT_CACHE_SECONDS = 600
    owner, device = UserFactory.create(), DeviceFactory.create()
    first = export_of(owner, [device])

    assert export_of(owner, [device]) == first
    assert export_of(UserFactory.create(), [device]) != first
    Export.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=601))
    second = export_of(owner, [device])
    assert second != first
    exports.fail(second.pk, "the database went away")
    assert export_of(owner, [device]) not in (first, second)


def test_the_task_writes_a_long_export_over_several_tasks(monkeypatch, settings):
    # Tasks run in-process here: each one queued runs at once, as a worker would run it.
    monkeypatch.setattr(exports, "PART_ROWS", 5)
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 0  # each task writes one part, then queues the next
    device = DeviceFactory.create()
    readings(device, count=10)
    export = export_of(UserFactory.create(), [device])
    runs: list[tuple] = []
    monkeypatch.setattr(exports, "write_parts", counted(exports.write_parts, runs))

    export_readings.delay(export.pk)

    export.refresh_from_db()
    # Four full parts, and a fifth task that finds nothing left.
    assert (export.state, export.rows, len(runs)) == ("succeeded", 20, 5)


def counted(function, calls: list):
    def call(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return call


def test_a_task_that_breaks_fails_its_export_with_the_reason(monkeypatch):
    export = export_of(UserFactory.create(), [DeviceFactory.create()])

    def broken(export_id, seconds):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(exports, "write_parts", broken)

    # As a worker runs it: the error is the task's outcome, not raised to the caller.
    outcome = export_readings.apply((export.pk,), throw=False)

    assert outcome.failed()

    export.refresh_from_db()
    assert (export.state, export.error) == ("failed", "RuntimeError: the disk is full")
    assert export.finished_at is not None


def test_old_exports_are_pruned_with_their_files(settings):
    settings.EXPORT_KEEP_HOURS = 24
    owner, device = UserFactory.create(), DeviceFactory.create()
    readings(device)
    old = export_of(owner, [device], created_at=timezone.now() - timedelta(hours=25))
    kept = export_of(UserFactory.create(), [device])
    for export in (old, kept):
        exports.write_parts(export.pk, seconds=60)

    jobs.prune_observations()

    assert list(Export.objects.all()) == [kept]
    assert list(ExportPart.objects.values_list("export", flat=True)) == [kept.pk]
{%- endif %}
