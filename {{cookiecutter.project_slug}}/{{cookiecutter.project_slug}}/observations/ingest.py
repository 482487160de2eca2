"""The one way readings enter the database: idempotent bulk writes.

A reading is unique per (device, name, valid_at), and a status per (device, valid_at), so a
batch stored twice, or redelivered after a worker died, adds no row. Rows go in as
INSERT ... ON CONFLICT DO NOTHING: one statement per chunk, duplicates skipped by the database.
On PostgreSQL the rows travel as one array per column (unnest), so a chunk costs a handful of
parameters, not six per row.

Any iterable goes in, a generator included, and is consumed one chunk at a time: memory is one
chunk's worth however long the input. The refresh jobs need the keys of the rows that were new
(store_*, RETURNING id); imports and seeding need only how many (backfill_*), and keep nothing
per row, so that a million readings cost what twenty thousand do.

A backfill's rows are mostly new, and on PostgreSQL each chunk goes in by COPY, at about twice
the speed of the INSERT: COPY checks the unique keys but cannot skip a conflict, so a chunk it
refuses (a row stored already) is rolled back to its savepoint and inserted again as above.
Storing the same history twice costs a COPY that stops at its first row, then the INSERT.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import NamedTuple, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
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


@dataclass(frozen=True)
class _Table:
    model: type[Model]
    columns: tuple[str, ...]
    postgresql_types: tuple[str, ...]
    unique: tuple[str, ...]

    def into(self) -> str:
        """The table and the columns a write fills: the row's, then recorded_at."""
        name = connection.ops.quote_name(self.model._meta.db_table)
        return f"{name} ({', '.join(self.columns)}, recorded_at)"


_ATTRIBUTES = _Table(
    Attribute,
    columns=("device_id", "name", "value", "units", "valid_at"),
    postgresql_types=("bigint", "text", "float8", "text", "timestamptz"),
    unique=("device_id", "name", "valid_at"),
)
_STATUSES = _Table(
    Status,
    columns=("device_id", "is_on", "state", "valid_at"),
    postgresql_types=("bigint", "boolean", "text", "timestamptz"),
    unique=("device_id", "valid_at"),
)


def store_attributes(rows: Iterable[AttributeRow]) -> list[int]:
    """Store numeric readings; return the primary keys of the rows that were new."""
    return _new_keys(_ATTRIBUTES, rows)


def store_statuses(rows: Iterable[StatusRow]) -> list[int]:
    """Store statuses; return the primary keys of the rows that were new."""
    return _new_keys(_STATUSES, rows)


def backfill_attributes(rows: Iterable[AttributeRow]) -> int:
    """Store numeric readings, as many as come; return how many were new."""
    return _new_count(_ATTRIBUTES, rows)


def backfill_statuses(rows: Iterable[StatusRow]) -> int:
    """Store statuses, as many as come; return how many were new."""
    return _new_count(_STATUSES, rows)


def chunked(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _new_keys(table: _Table, rows: Iterable[tuple]) -> list[int]:
    statements = _inserts(table, rows, returning="RETURNING id")
    return [key for cursor in statements for (key,) in cursor.fetchall()]


def _new_count(table: _Table, rows: Iterable[tuple]) -> int:
    if connection.vendor == "postgresql":
        return sum(_copied_or_inserted(table, chunk) for chunk in chunked(rows, POSTGRESQL_CHUNK))
    return _inserted_count(table, rows)


def _inserted_count(table: _Table, rows: Iterable[tuple]) -> int:
    # rowcount counts the rows inserted, not those skipped as conflicts, on both databases.
    return sum(cursor.rowcount for cursor in _inserts(table, rows, returning=""))


def _copied_or_inserted(table: _Table, chunk: tuple[tuple, ...]) -> int:
    """Store a chunk by COPY or, if the database refuses a row of it, by INSERT; return how many
    rows were new."""
    copy_sql = f"COPY {table.into()} FROM STDIN (FORMAT BINARY)"
    recorded_at = timezone.now()
    try:
        # A savepoint inside a caller's transaction: a refused COPY leaves what came before.
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.cursor.copy(copy_sql) as copy,
        ):
            copy.set_types([*table.postgresql_types, "timestamptz"])
            for row in chunk:
                copy.write_row((*row, recorded_at))
    except IntegrityError:
        return _inserted_count(table, chunk)
    return len(chunk)


def _inserts(table: _Table, rows: Iterable[tuple], returning: str) -> Iterator[CursorWrapper]:
    """Insert the rows one chunk per statement, yielding the cursor after each statement."""
    into = table.into()
    on_conflict = f"ON CONFLICT ({', '.join(table.unique)}) DO NOTHING {returning}"
    recorded_at = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for kind in table.postgresql_types)
            sql = f"INSERT INTO {into} SELECT *, %s FROM unnest({arrays}) {on_conflict}"
            for chunk in chunked(rows, POSTGRESQL_CHUNK):
                cursor.execute(sql, [recorded_at, *map(list, zip(*chunk, strict=True))])
                yield cursor
        else:
            # SQLite stores datetimes as text in Django's format; let the backend write it.
            adapt = connection.ops.adapt_datetimefield_value
            placeholders = f"({', '.join(['%s'] * (len(table.columns) + 1))})"
            for chunk in chunked(rows, SQLITE_CHUNK):
                values = ", ".join([placeholders] * len(chunk))
                parameters = [
                    adapt(value) if isinstance(value, datetime) else value
                    for row in chunk
                    for value in (*row, recorded_at)
                ]
                cursor.execute(
                    f"INSERT INTO {into} VALUES {values} {on_conflict}",
                    parameters,
                )
                yield cursor
