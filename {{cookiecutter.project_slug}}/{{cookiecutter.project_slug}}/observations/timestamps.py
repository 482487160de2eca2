"""Read PostgreSQL timestamps with psycopg's compiled parser.

Django 5.2 reads every timestamptz through a loader built on psycopg's pure-Python one (Django
ticket #36960): about 12 µs a value, most of the time of a query that returns a few thousand
readings. With psycopg's C build installed, and the session's zone UTC, as Django sets it when
USE_TZ is on, the compiled loader returns the very same values, aware and in UTC, several times
faster. So each PostgreSQL connection registers it on its cursors just before they execute.
"""

from __future__ import annotations

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import adapters
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ = types["timestamptz"].oid
# The optimised class when the C build is installed, else psycopg's own Python one.
PARSER = adapters.get_loader(TIMESTAMPTZ, Format.TEXT)


def is_compiled() -> bool:
    return not PARSER.__module__.startswith("psycopg.")


def parse_with_compiled_loader(execute, sql, params, many, context):
    context["cursor"].cursor.adapters.register_loader(TIMESTAMPTZ, PARSER)
    return execute(sql, params, many, context)


def use_compiled_parser(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """On connection_created: read this connection's timestamps with the compiled parser."""
    same_values = settings.USE_TZ and connection.timezone_name == "UTC"
    if connection.vendor != "postgresql" or not same_values or not is_compiled():
        return
    # The wrapper outlives the connection, which Django opens again after CONN_MAX_AGE.
    if parse_with_compiled_loader not in connection.execute_wrappers:
        connection.execute_wrappers.append(parse_with_compiled_loader)
