from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection

from .. import timestamps
from ..models import Attribute
from .factories import AttributeFactory

pytestmark = pytest.mark.django_db


def a_connection(vendor="postgresql", zone="UTC"):
    return SimpleNamespace(vendor=vendor, timezone_name=zone, execute_wrappers=[])


@contextmanager
def djangos_own_loader():
    """Read timestamps as Django alone would, without the compiled parser where it is used."""
    registered = timestamps.parse_with_compiled_loader in connection.execute_wrappers
    if registered:
        connection.execute_wrappers.remove(timestamps.parse_with_compiled_loader)
    try:
        yield
    finally:
        if registered:
            connection.execute_wrappers.append(timestamps.parse_with_compiled_loader)


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
def test_timestamps_read_back_as_django_alone_reads_them(moment):
    AttributeFactory.create(valid_at=moment)

    read = Attribute.objects.get().valid_at
    with djangos_own_loader():
        djangos = Attribute.objects.get().valid_at

    assert read == djangos == moment
    assert read.utcoffset() == djangos.utcoffset() == timedelta(0)
    assert read.isoformat() == djangos.isoformat()
