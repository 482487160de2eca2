"""The one way readings enter the database: idempotent bulk writes.

A reading is unique per (device, name, valid_at), and a status per (device, valid_at), so a
batch stored twice, or redelivered after a worker died, adds no row. Rows go in as
INSERT ... ON CONFLICT DO NOTHING RETURNING id: one statement per chunk, duplicates skipped by
the database, and the keys of the rows that were new come back. On PostgreSQL the rows travel
as one array per column (unnest), so a chunk costs a handful of parameters, not six per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import NamedTuple, TypeVar

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from .models import Attribute, Status

# Rows per statement: PostgreSQL arrays have no parameter limit; SQLite allows 32,766
# parameters per statement.
POSTGRESQL_CHUNK = 20_000
SQLITE_CHUNK = 4_000

T = TypeVar("T")


class AttributeRow(NamedTuple):
    device_id: int
    name: str
    value: float
    units: str
    valid_at: datetime


class StatusRow(NamedTuple):
    device_id: int
    is_on: bool
    state: str
    valid_at: datetime


def store_attributes(rows: Iterable[AttributeRow]) -> list[int]:
    """Store numeric readings; return the primary keys of the rows that were new."""
    return _insert_new(
        Attribute,
        columns=("device_id", "name", "value", "units", "valid_at"),
        postgresql_types=("bigint", "text", "float8", "text", "timestamptz"),
        unique=("device_id", "name", "valid_at"),
        rows=rows,
    )


def store_statuses(rows: Iterable[StatusRow]) -> list[int]:
    """Store statuses; return the primary keys of the rows that were new."""
    return _insert_new(
        Status,
        columns=("device_id", "is_on", "state", "valid_at"),
        postgresql_types=("bigint", "boolean", "text", "timestamptz"),
        unique=("device_id", "valid_at"),
        rows=rows,
    )


def chunked(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _insert_new(
    model: type[Model],
    columns: Sequence[str],
    postgresql_types: Sequence[str],
    unique: Sequence[str],
    rows: Iterable[tuple],
) -> list[int]:
    table = connection.ops.quote_name(model._meta.db_table)
    column_list = ", ".join((*columns, "recorded_at"))
    on_conflict = f"ON CONFLICT ({', '.join(unique)}) DO NOTHING RETURNING id"
    recorded_at = timezone.now()
    new_keys: list[int] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for kind in postgresql_types)
            sql = (
                f"INSERT INTO {table} ({column_list}) "
                f"SELECT *, %s FROM unnest({arrays}) {on_conflict}"
            )
            for chunk in chunked(rows, POSTGRESQL_CHUNK):
                cursor.execute(sql, [recorded_at, *map(list, zip(*chunk, strict=True))])
                new_keys.extend(key for (key,) in cursor.fetchall())
        else:
            # SQLite stores datetimes as text in Django's format; let the backend write it.
            adapt = connection.ops.adapt_datetimefield_value
            placeholders = f"({', '.join(['%s'] * (len(columns) + 1))})"
            for chunk in chunked(rows, SQLITE_CHUNK):
                values = ", ".join([placeholders] * len(chunk))
                parameters = [
                    adapt(value) if isinstance(value, datetime) else value
                    for row in chunk
                    for value in (*row, recorded_at)
                ]
                cursor.execute(
                    f"INSERT INTO {table} ({column_list}) VALUES {values} {on_conflict}",
                    parameters,
                )
                new_keys.extend(key for (key,) in cursor.fetchall())
    return new_keys
