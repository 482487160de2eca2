from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import get_adapters_template
from psycopg.adapt import AdaptersMap
from psycopg.pq import Format

from .. import timestamps

pytestmark = pytest.mark.django_db


def a_connection(vendor="postgresql", zone="UTC"):
    return SimpleNamespace(vendor=vendor, timezone_name=zone, execute_wrappers=[])


def djangos_adapters() -> AdaptersMap:
    """What Django registers on a PostgreSQL connection whose session zone is UTC."""
    return AdaptersMap(get_adapters_template(True, UTC))


def as_postgresql_sends_it(moment: datetime) -> bytes:
    """A timestamptz as text, as PostgreSQL sends it to a UTC session: offset +00."""
    return moment.isoformat(sep=" ").removesuffix(":00").encode()


def test_psycopg_is_installed_with_its_compiled_parser():
    assert timestamps.is_compiled()


def test_this_databases_connection_uses_the_parser_only_on_postgresql():
    connection.ensure_connection()
    registered = connection.execute_wrappers.count(timestamps.parse_with_compiled_loader)

    assert registered == (1 if connection.vendor == "postgresql" else 0)


@pytest.mark.parametrize(
    ("vendor", "zone", "registered"),
    [("postgresql", "UTC", 1), ("postgresql", "Europe/Paris", 0), ("sqlite", "UTC", 0)],
)
def test_the_parser_is_used_only_where_it_reads_what_django_reads(vendor, zone, registered):
    opened = a_connection(vendor, zone)

    timestamps.use_compiled_parser(sender=None, connection=opened)

    assert opened.execute_wrappers.count(timestamps.parse_with_compiled_loader) == registered


def test_a_connection_opened_again_registers_the_parser_once():
    opened = a_connection()

    timestamps.use_compiled_parser(sender=None, connection=opened)
    timestamps.use_compiled_parser(sender=None, connection=opened)

    assert opened.execute_wrappers == [timestamps.parse_with_compiled_loader]


def test_a_cursor_reads_with_the_compiled_parser_once_wrapped():
    adapters = djangos_adapters()
    timestamptz, compiled = timestamps.timestamptz_parser()
    context = {"cursor": SimpleNamespace(cursor=SimpleNamespace(adapters=adapters))}
    assert adapters.get_loader(timestamptz, Format.TEXT) is not compiled

    answer = timestamps.parse_with_compiled_loader(
        lambda *call: call, "SELECT 1", None, False, context
    )

    assert answer == ("SELECT 1", None, False, context)
    assert adapters.get_loader(timestamptz, Format.TEXT) is compiled


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_the_compiled_parser_reads_timestamps_as_django_alone_reads_them(moment):
    # Not through a database, so that on SQLite too this compares the two parsers.
    timestamptz, compiled = timestamps.timestamptz_parser()
    djangos = djangos_adapters().get_loader(timestamptz, Format.TEXT)
    assert djangos is not None
    text = as_postgresql_sends_it(moment)

    read, expected = compiled(timestamptz).load(text), djangos(timestamptz).load(text)

    assert read == expected == moment
    assert read.utcoffset() == expected.utcoffset() == timedelta(0)
    assert read.isoformat() == expected.isoformat()
