"""The project's work, as plain functions: they take primary keys and return primary keys.

Task wrappers and the run_job command call these and add only delivery policy. Every job is
safe to run twice: vendor calls happen before any write, the writes of one job happen in one
transaction, and observations.ingest skips readings it already has.

A write that involves a device locks the device's row first (Device.objects.lock), as a delete
of the device does: the two then wait for each other, where PostgreSQL would otherwise end them
in a deadlock, and the readings of a device deleted meanwhile are dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, connections, transaction
from django.utils import timezone

from ..devices.models import Device
from ..observations.ingest import (
    AttributeRow,
    StatusRow,
    chunked,
    store_attributes,
    store_statuses,
)
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.models import Attribute, Export, Status
{%- else %}
from ..observations.models import Attribute, Status
{%- endif %}
from ..vendors.base import (
    AuthenticationFailed,
    ConfigurationError,
    DeviceReport,
    PermanentVendorError,
    StatusReading,
    VendorClient,
)
from ..vendors.registry import vendor_client
from .delivery import accept_command, answer, claim, confirm_accepted, fail_command
from .heartbeats import describe_error
from .models import Command, JobRun
from .rounds import Tally

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors of the client's setup, not of a device: no device of the vendor can be read, so they
# fail the whole job, once, rather than each device in turn.
SETUP_ERRORS = (ConfigurationError, AuthenticationFailed)
# Logged when a device's error changes: (vendor, device, reason).
REFUSED = "Vendor %s refused device %s: %s"
NOT_STORED = "Readings from %s for device %s could not be stored: %s"


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: the keys of the new rows, the devices whose readings it stored,
    and those it could not refresh. A device deleted meanwhile is in neither list."""

    new_keys: list[int]
    refreshed: list[int]
    failed: list[int]


def refresh_device(device_id: int) -> list[int]:
    """Read one device's status and readings; return the keys of the new rows."""
    return refresh_devices([device_id]).new_keys


def refresh_devices(device_ids: Iterable[int]) -> Refreshed:
    """Read what the vendors say of some devices, one call per batch their vendors allow, and
    store it: statuses, readings, the vendor's word on their connection. A status that shows
    the state an accepted command asked for confirms it."""
    return _pull(device_ids)


def device_batches() -> list[list[int]]:
    """Every device, in batches of one vendor each that one vendor call can carry."""
    by_vendor: dict[str, list[int]] = defaultdict(list)
    for device_id, vendor in Device.objects.order_by("vendor", "pk").values_list("pk", "vendor"):
        by_vendor[vendor].append(device_id)
    return [
        list(batch)
        for vendor, device_ids in by_vendor.items()
        for batch in chunked(device_ids, _batch_size(vendor))
    ]


def refresh_all() -> Tally:
    """Refresh every device, batches in parallel on a bounded pool of threads, in this
    process; return how the round went (rounds.py says what fails it).

    A batch that fails does not stop the others; the next round tries its devices again. An
    error of a client's setup (SETUP_ERRORS) stops the round and propagates: every other batch
    would fail the same way.
    """
    batches = device_batches()
    tally = Tally()
    with ThreadPoolExecutor(max_workers=settings.REFRESH_CONCURRENCY) as pool:
        futures = {
            pool.submit(_in_own_connection, refresh_devices, batch): batch for batch in batches
        }
        for future in as_completed(futures):
            try:
                refreshed = future.result()
            except SETUP_ERRORS:
                pool.shutdown(cancel_futures=True)  # the batches not started yet
                raise
            except Exception as error:
                tally.add(0, len(futures[future]), describe_error(error))
            else:
                tally.add(len(refreshed.refreshed), len(refreshed.failed))
    return tally


def set_status(command_id: int, read_soon: Callable[[int], object] | None = None) -> int:
    """Send a command to its device's vendor and record what the vendor confirms.

    A vendor that echoes the new state confirms (or fails) the command at once. One that only
    accepts it leaves it accepted, for a later read of the device to confirm (refresh_devices)
    or the sweeper to fail after COMMAND_TIMEOUT_SECONDS; `read_soon(device_id)`, when given,
    asks for that read early.

    Only an attempt that claims the command sends it (delivery.py): a redelivered or repeated
    task finds it settled, or being sent, and sends nothing. When an earlier attempt may have
    reached the vendor, the device is read first, and a device already in the state asked for
    confirms the command without a second send. Transient vendor errors propagate for the
    caller to retry; a permanent one fails the command and propagates too.
    """
    command = claim(command_id)
    if command is None:
        return command_id
    device = command.device
    try:
        client = vendor_client(device.vendor)
        status = _status_if_switched(client, device, command) if command.attempts > 1 else None
        status = status or client.set_status(device.vendor_device_id, command.is_on)
    except PermanentVendorError as error:
        fail_command(command.pk, str(error))
        raise
    if status is None:
        if accept_command(command.pk) and read_soon is not None:
            read_soon(device.pk)
        return command.pk
    confirmed = status.is_on == command.is_on
    with transaction.atomic():
        if not Device.objects.filter(pk=device.pk).lock():
            return command.pk  # the device was deleted meanwhile, and the command with it
        store_statuses([StatusRow(device.pk, status.is_on, status.state, status.valid_at)])
        Device.objects.filter(pk=device.pk).update(last_seen_at=timezone.now(), last_error="")
        # A command the sweeper failed meanwhile stays failed: its person was told so.
        Command.objects.filter(pk=command.pk).exclude(state__in=Command.SETTLED).update(
            state=Command.State.CONFIRMED if confirmed else Command.State.FAILED,
            vendor_answer=answer(status.is_on, status.state, status.valid_at),
            error="" if confirmed else f"the vendor reports the device {status.state}",
            finished_at=timezone.now(),
        )
    return command.pk


def _status_if_switched(
    client: VendorClient, device: Device, command: Command
) -> StatusReading | None:
    """The device's status if it is already as the command asks, else None."""
    reports = client.read_devices([device.vendor_device_id])
    statuses = [report.status for report in reports if report.status is not None]
    return next((status for status in statuses if status.is_on == command.is_on), None)


def prune_observations() -> int:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Delete readings and job heartbeats older than OBSERVATION_RETENTION_DAYS, and exports
    older than EXPORT_KEEP_HOURS; return how many rows went."""
    now = timezone.now()
    cutoff = now - timedelta(days=settings.OBSERVATION_RETENTION_DAYS)
{%- else %}
    """Delete readings and job heartbeats older than OBSERVATION_RETENTION_DAYS; return how
    many rows went."""
    cutoff = timezone.now() - timedelta(days=settings.OBSERVATION_RETENTION_DAYS)
{%- endif %}
    deleted = 0
    for queryset in (
        Attribute.objects.filter(valid_at__lt=cutoff),
        Status.objects.filter(valid_at__lt=cutoff),
        JobRun.objects.filter(started_at__lt=cutoff),
{%- if cookiecutter.scheduler == "celery-beat" %}
        Export.objects.filter(created_at__lt=now - timedelta(hours=settings.EXPORT_KEEP_HOURS)),
{%- endif %}
    ):
        count, _ = queryset.delete()
        deleted += count
    return deleted


def _pull(device_ids: Iterable[int]) -> Refreshed:
    devices = list(Device.objects.filter(pk__in=list(device_ids)).order_by("pk"))
    by_vendor: dict[str, list[Device]] = defaultdict(list)
    for device in devices:
        by_vendor[device.vendor].append(device)

    # Every vendor call first, outside any transaction: nothing is written before they end.
    statuses: list[StatusRow] = []
    attributes: list[AttributeRow] = []
    reported_online: dict[int, bool | None] = {}
    refused: dict[int, str] = {}
    for vendor, vendor_devices in by_vendor.items():
        try:
            client = vendor_client(vendor)
        except PermanentVendorError as error:
            refused |= {device.pk: str(error) for device in vendor_devices}
            continue
        key_of = {device.vendor_device_id: device.pk for device in vendor_devices}
        for batch in chunked(vendor_devices, client.batch_size):
            for report in _read_batch(client, list(batch), refused):
                device_id = key_of[report.vendor_device_id]
                _add_report(device_id, report, statuses, attributes, reported_online)

    said = Said(statuses, attributes, reported_online, refused)
    try:
        with transaction.atomic():
            return _store(devices, said)
    except (DataError, IntegrityError):
        # Readings the database refuses (a value out of range, a missing time): store each
        # device's on their own, so that the device they came from is the only one to lose.
        return _store_each(devices, said)


def store_pushed(vendor: str, reports: list[DeviceReport]) -> Refreshed:
    """Store what a vendor pushed of its devices, as a read's reports are stored (statuses,
    readings, last seen, the vendor's word on the connection, accepted commands confirmed), in
    the caller's transaction. A report of a device the project does not have is dropped."""
    devices = list(
        Device.objects.filter(
            vendor=vendor, vendor_device_id__in=[report.vendor_device_id for report in reports]
        ).order_by("pk")
    )
    key_of = {device.vendor_device_id: device.pk for device in devices}
    statuses: list[StatusRow] = []
    attributes: list[AttributeRow] = []
    reported_online: dict[int, bool | None] = {}
    for report in reports:
        if report.vendor_device_id in key_of:
            device_id = key_of[report.vendor_device_id]
            _add_report(device_id, report, statuses, attributes, reported_online)
    return _store(devices, Said(statuses, attributes, reported_online, refused={}))


def _add_report(
    device_id: int,
    report: DeviceReport,
    statuses: list[StatusRow],
    attributes: list[AttributeRow],
    reported_online: dict[int, bool | None],
) -> None:
    """Add what one device's report says to what is to be stored."""
    reported_online[device_id] = report.online
    if report.status is not None:
        status = report.status
        statuses.append(StatusRow(device_id, status.is_on, status.state, status.valid_at))
    attributes += [
        AttributeRow(device_id, r.name, r.value, r.units, r.valid_at) for r in report.readings
    ]


@dataclass(frozen=True)
class Said:
    """What the vendors said of some devices in one read, by device key."""

    statuses: list[StatusRow]
    attributes: list[AttributeRow]
    reported_online: dict[int, bool | None]
    refused: dict[int, str]


def _store(devices: list[Device], said: Said) -> Refreshed:
    """Store what the vendor said of these devices, in the caller's transaction."""
    present = set(Device.objects.filter(pk__in=[device.pk for device in devices]).lock())
    devices = [device for device in devices if device.pk in present]
    statuses = [row for row in said.statuses if row.device_id in present]
    new_keys = store_statuses(statuses)
    new_keys += store_attributes([row for row in said.attributes if row.device_id in present])
    answered = [device.pk for device in devices if device.pk not in said.refused]
    now = timezone.now()
    for online in (True, False, None):
        Device.objects.filter(
            pk__in=[pk for pk in answered if said.reported_online.get(pk) is online]
        ).update(last_seen_at=now, last_error="", reported_online=online)
    confirm_accepted(statuses)
    _record_errors(devices, said.refused, REFUSED)
    failed = [device.pk for device in devices if device.pk in said.refused]
    return Refreshed(new_keys, answered, failed)


def _store_each(devices: list[Device], said: Said) -> Refreshed:
    new_keys: list[int] = []
    refreshed: list[int] = []
    failed: list[int] = []
    for device in devices:
        try:
            with transaction.atomic():
                stored = _store([device], said)
        except (DataError, IntegrityError) as error:
            _record_errors([device], {device.pk: describe_error(error).splitlines()[0]}, NOT_STORED)
            failed.append(device.pk)
        else:
            new_keys += stored.new_keys
            refreshed += stored.refreshed
            failed += stored.failed
    return Refreshed(new_keys, refreshed, failed)


def _read_batch(
    client: VendorClient, batch: list[Device], refused: dict[int, str]
) -> list[DeviceReport]:
    """Read a batch in one call; if the vendor refuses it for good, read its devices one by
    one, so that one bad device costs only its own readings. An error of the client's setup
    (refused credentials, a wrong URL) is no device's fault: it fails the whole job."""
    ids = [device.vendor_device_id for device in batch]
    try:
        # A report of a device not asked for (a vendor's quirk) would have no row to go to.
        return [report for report in client.read_devices(ids) if report.vendor_device_id in ids]
    except SETUP_ERRORS:
        raise
    except PermanentVendorError as error:
        if len(batch) == 1:
            refused[batch[0].pk] = str(error)
            return []
    return [report for device in batch for report in _read_batch(client, [device], refused)]


def _record_errors(devices: list[Device], errors: dict[int, str], message: str) -> None:
    for device in devices:
        reason = errors.get(device.pk)
        # Logged when the reason changes, not at every run: one alert, not one per interval.
        if reason is not None and reason != device.last_error:
            logger.error(message, device.vendor, device, reason)
            Device.objects.filter(pk=device.pk).update(last_error=reason)


def _batch_size(vendor: str) -> int:
    try:
        return vendor_client(vendor).batch_size
    except PermanentVendorError:
        return 1  # an unknown vendor fails in its batch, where it is recorded


def _in_own_connection(job: Callable[..., T], *args: Any) -> T:
    """Run a job in a pool thread, closing the database connection the thread opened."""
    try:
        return job(*args)
    finally:
        connections.close_all()
