"""Read PostgreSQL timestamps with psycopg's compiled parser.

Django 5.2 reads every timestamptz through a loader built on psycopg's pure-Python one (Django
ticket #36960): about 12 µs a value, most of the time of a query that returns a few thousand
readings. With psycopg's C build installed, and the session's zone UTC, as Django sets it when
USE_TZ is on, the compiled loader returns the very same values, aware and in UTC, several times
faster. So each PostgreSQL connection registers it on its cursors just before they execute.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    from psycopg.abc import Loader


@cache
def timestamptz_parser() -> tuple[int, type[Loader]]:
    """PostgreSQL's timestamptz type and psycopg's loader for it: the compiled one when the C
    build is installed. Imported on first use, so that a project on SQLite never loads psycopg."""
    from psycopg import adapters
    from psycopg.postgres import types
    from psycopg.pq import Format

    timestamptz = types["timestamptz"].oid
    loader = adapters.get_loader(timestamptz, Format.TEXT)
    if loader is None:  # psycopg registers one for every built-in type
        raise LookupError("psycopg has no loader for timestamptz")
    return timestamptz, loader


def is_compiled() -> bool:
    _, parser = timestamptz_parser()
    return not parser.__module__.startswith("psycopg.")


def parse_with_compiled_loader(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    context["cursor"].cursor.adapters.register_loader(*timestamptz_parser())
    return execute(sql, params, many, context)


def use_compiled_parser(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """On connection_created: read this connection's timestamps with the compiled parser."""
    same_values = settings.USE_TZ and connection.timezone_name == "UTC"
    if connection.vendor != "postgresql" or not same_values or not is_compiled():
        return
    # The wrapper outlives the connection, which Django opens again after CONN_MAX_AGE.
    if parse_with_compiled_loader not in connection.execute_wrappers:
        connection.execute_wrappers.append(parse_with_compiled_loader)
