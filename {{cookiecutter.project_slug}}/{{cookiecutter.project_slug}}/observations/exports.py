"""Readings out of the database as CSV, in constant memory whatever their number.

Rows are read a part at a time by the order of the readings' unique index (device, name,
valid_at), each part starting after the last reading of the one before: one indexed query per
part, never an OFFSET that rereads what came before, and never more than a part in memory.
{%- if cookiecutter.scheduler == "celery-beat" %}

A worker writes an export's parts into the database (write_parts), saving with each part the
position where the next starts, in one transaction: a worker that stops or dies loses at most
the part it was writing, and the next task goes on from there. The file is then downloaded as
its parts in order (download), from any web process.
{%- else %}

Without a worker, the request that asks for the readings streams them (csv_stream): the rows
are written to the response as they are read.
{%- endif %}
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
{%- if cookiecutter.scheduler == "celery-beat" %}
import time
{%- endif %}
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime{% if cookiecutter.scheduler == "celery-beat" %}, timedelta{% endif %}
{%- if cookiecutter.scheduler == "celery-beat" %}
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import reset_queries, transaction
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone

from ..devices.models import Device
from .models import Attribute, Export, ExportPart

if TYPE_CHECKING:
    # django-stubs' name for AUTH_USER_MODEL or AnonymousUser, which its mypy plugin resolves.
    from django.contrib.auth.models import _AnyUser
{%- else %}

from django.db.models import Q
from django.http import StreamingHttpResponse

from ..devices.models import Device
from .models import Attribute
{%- endif %}

COLUMNS = ("device_id", "device", "name", "value", "units", "valid_at")
# Readings per part: one query each, about a megabyte of CSV.
PART_ROWS = 20_000


@dataclass(frozen=True)
class Wanted:
    """What an export holds: the readings of these devices, of these names (none: every
    name), taken in [since, until)."""

    device_ids: Sequence[int]
    names: Sequence[str]
    since: datetime
    until: datetime

    def key(self) -> str:
        """A digest of what is asked, the same whatever the order it was asked in."""
        asked = [
            sorted(self.device_ids),
            sorted(self.names),
            self.since.astimezone(UTC).isoformat(),
            self.until.astimezone(UTC).isoformat(),
        ]
        return hashlib.sha256(json.dumps(asked).encode()).hexdigest()


@dataclass(frozen=True)
class Position:
    """Where a part starts: after reading (name, valid_at) of the device at this index of
    Wanted.device_ids, or at that device's first reading when valid_at is None."""

    device: int = 0
    name: str = ""
    valid_at: datetime | None = None


Row = tuple[int, str, float, str, datetime]


def next_rows(wanted: Wanted, position: Position, limit: int) -> tuple[list[Row], Position | None]:
    """Up to `limit` readings from `position` on, and the position after them (None: no
    reading is left)."""
    rows: list[Row] = []
    at: Position | None = position
    while at is not None and len(rows) < limit:
        room = limit - len(rows)
        readings = Attribute.objects.filter(
            device_id=wanted.device_ids[at.device],
            valid_at__gte=wanted.since,
            valid_at__lt=wanted.until,
        )
        if wanted.names:
            readings = readings.filter(name__in=wanted.names)
        if at.valid_at is not None:
            readings = readings.filter(
                Q(name__gt=at.name) | Q(name=at.name, valid_at__gt=at.valid_at)
            )
        found = list(
            readings.order_by("name", "valid_at").values_list(
                "device_id", "name", "value", "units", "valid_at"
            )[:room]
        )
        rows += found
        if len(found) == room:
            _, name, _, _, valid_at = found[-1]
            at = Position(at.device, name, valid_at)
        elif at.device + 1 < len(wanted.device_ids):
            at = Position(at.device + 1)
        else:
            at = None
    return rows, at


def header() -> str:
    return csv_text([COLUMNS])


def csv_lines(rows: list[Row], names: dict[int, str]) -> str:
    """Rows as CSV lines, each naming its device (`names`: device names by key); times in
    UTC, ISO 8601."""
    return csv_text(
        (
            device_id,
            as_text(names[device_id]),
            as_text(name),
            value,
            as_text(units),
            valid_at.astimezone(UTC).isoformat(),
        )
        for device_id, name, value, units, valid_at in rows
    )


# What a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(cell: str) -> str:
    """A cell of text, which a spreadsheet shows as text: one that would start a formula (a
    device named =HYPERLINK(...) by whoever can name one) gets a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_text(lines: Iterable[Iterable[object]]) -> str:
    text = io.StringIO()
    # Lines end in CRLF, as RFC 4180 has them; with "\n" alone, a carriage return inside a
    # field (a device's name) would go unquoted, and end the line for most readers.
    csv.writer(text, lineterminator="\r\n").writerows(lines)
    return text.getvalue()


def csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A CSV file, sent as its lines come."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def device_names(wanted: Wanted) -> dict[int, str]:
    return dict(Device.objects.filter(pk__in=wanted.device_ids).values_list("pk", "name"))
{%- if cookiecutter.scheduler == "celery-beat" %}


def find_or_create(owner: _AnyUser, wanted: Wanted) -> tuple[Export, bool]:
    """The export `owner` asked for with the same request within EXPORT_CACHE_SECONDS, unless
    it failed; else a new one, to queue. Return it and whether it is new."""
    if not owner.is_authenticated:
        raise PermissionDenied("Sign in to export readings.")
    key = wanted.key()
    recent = timezone.now() - timedelta(seconds=settings.EXPORT_CACHE_SECONDS)
    earlier = (
        Export.objects.filter(owner=owner, request_key=key, created_at__gte=recent)
        .exclude(state=Export.State.FAILED)
        .first()
    )
    if earlier is not None:
        return earlier, False
    export = Export.objects.create(
        owner=owner,
        device_ids=list(wanted.device_ids),
        names=list(wanted.names),
        since=wanted.since,
        until=wanted.until,
        request_key=key,
    )
    return export, True


def wanted_by(export: Export) -> Wanted:
    return Wanted(export.device_ids, export.names, export.since, export.until)


def write_parts(export_id: int, seconds: float) -> bool:
    """Write an export's next parts for about `seconds`; return whether it is finished (or
    gone, or settled by another task)."""
    deadline = time.monotonic() + seconds
    names: dict[int, str] | None = None
    while True:
        with transaction.atomic():
            # Locked: a task delivered twice waits, then goes on from where the other ended.
            export = (
                Export.objects.select_for_update()
                .filter(pk=export_id)
                .exclude(state__in=Export.SETTLED)
                .first()
            )
            if export is None:
                return True
            wanted = wanted_by(export)
            names = names or device_names(wanted)
            at = Position(export.next_device, export.after_name, export.after_valid_at)
            rows, after = next_rows(wanted, at, PART_ROWS)
            if rows:
                ExportPart.objects.create(
                    export=export, first_row=export.rows, text=csv_lines(rows, names)
                )
            export.rows += len(rows)
            if after is None:
                export.state = Export.State.SUCCEEDED
                export.finished_at = timezone.now()
            else:
                export.state = Export.State.RUNNING
                export.next_device, export.after_name = after.device, after.name
                export.after_valid_at = after.valid_at
            export.save()
        # With DEBUG on, Django keeps every statement with its parameters: a part's megabyte
        # of CSV each time, unless forgotten.
        reset_queries()
        if after is None:
            return True
        if time.monotonic() > deadline:
            return False


def fail(export_id: int, reason: str) -> None:
    Export.objects.filter(pk=export_id).exclude(state__in=Export.SETTLED).update(
        state=Export.State.FAILED, error=reason[:2000], finished_at=timezone.now()
    )


def download(export: Export) -> Iterator[str]:
    """A succeeded export's file: its header, then its parts in order, one in memory at a
    time."""
    yield header()
    parts = export.parts.order_by("first_row").values_list("text", flat=True)
    yield from parts.iterator(chunk_size=1)
{%- else %}


def csv_stream(wanted: Wanted) -> Iterator[str]:
    """The readings asked for as CSV, a part at a time, as they are read."""
    yield header()
    names = device_names(wanted)
    at: Position | None = Position()
    while at is not None:
        rows, at = next_rows(wanted, at, PART_ROWS)
        yield csv_lines(rows, names)
{%- endif %}
