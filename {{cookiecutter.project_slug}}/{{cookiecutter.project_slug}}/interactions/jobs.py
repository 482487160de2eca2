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
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
{%- if cookiecutter.scheduler == "celery-beat" %}
from datetime import timedelta
{%- endif %}
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, connections, transaction
from django.utils import timezone

from ..devices.models import Device
from ..observations import partitions
from ..observations.ingest import (
    AttributeRow,
    StatusRow,
    chunked,
    store_attributes,
    store_statuses,
)
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.models import Export
{%- endif %}
from ..observations.partitions import Added, Pruned
from ..vendors.base import (
    AuthenticationFailed,
    ConfigurationError,
    DeviceReport,
    PermanentVendorError,
    StatusReading,
    TransientVendorError,
    VendorClient,
)
from ..vendors.limits import limiter_for
from ..vendors.registry import vendor_client
from .delivery import accept_command, answer, claim, confirm_accepted, fail_command
from .fan_out import in_threads
from .heartbeats import describe_error
from .models import Command, JobRun
from .retries import retry_delay
from .rounds import Tally

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors of the client's setup, not of a device: no device of the vendor can be read, so they
# fail the whole job, once, rather than each device in turn.
SETUP_ERRORS = (ConfigurationError, AuthenticationFailed)
# Logged when a device's error changes: (vendor, device, reason).
REFUSED = "Vendor %s refused device %s: %s"
NOT_STORED = "Readings from %s for device %s could not be stored: %s"
# Devices per batch, of one vendor each: a batch's database work is a constant number of
# statements whatever its size, so a larger batch costs fewer round trips per device, while
# the readings it holds in memory, and its time under a task's time limit, stay small.
BATCH_DEVICES = 500
# A vendor that states no max_calls_at_once gets this many calls in flight per batch.
DEFAULT_CALLS_AT_ONCE = 8
# Batches in flight at once when run_job refreshes every device: while one batch stores its
# readings, the next one's calls keep the vendor busy; the vendor's limit does the rest.
BATCHES_AT_ONCE = 2


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: the keys of the new rows, the devices whose readings it stored,
    those it could not refresh, and those left unread by errors that pass (`unread`, with the
    `errors` of their calls), for the caller to try again. A device deleted meanwhile is in
    none of the lists."""

    new_keys: list[int]
    refreshed: list[int]
    failed: list[int]
    unread: list[int] = field(default_factory=list)
    errors: tuple[TransientVendorError, ...] = ()

    @property
    def error(self) -> TransientVendorError | None:
        """The error to retry on: the one that asks to wait longest (a 429's Retry-After)."""
        return max(self.errors, key=lambda error: error.retry_after or 0, default=None)

    def unread_summary(self) -> str:
        """The devices left unread, and why, in one line."""
        reasons = Counter(describe_error(error) for error in self.errors)
        why = "; ".join(
            reason if count == 1 else f"{reason} ({count} calls)"
            for reason, count in reasons.most_common()
        )
        return f"{len(self.unread)} devices unread: {why}"

    def raise_unread(self) -> None:
        """Raise the error that left devices unread, if one did: for a caller that tries the
        whole refresh again."""
        if self.error is not None:
            raise self.error


def refresh_device(device_id: int) -> list[int]:
    """Read one device's status and readings; return the keys of the new rows. A device its
    vendor refused, or whose readings could not be stored, fails the job: it was all it had
    to do."""
    refreshed = refresh_devices([device_id])
    refreshed.raise_unread()
    if refreshed.failed:
        reason = Device.objects.values_list("last_error", flat=True).get(pk=device_id)
        raise PermanentVendorError(reason)
    return refreshed.new_keys


def refresh_devices(device_ids: Iterable[int]) -> Refreshed:
    """Read what the vendors say of some devices and store it: statuses, readings, the
    vendor's word on their connection. A status that shows the state an accepted command asked
    for confirms it.

    The calls to a vendor carry as many ids as it takes (its client's batch_size) and are in
    flight together, as many as the vendor allows at once (its max_calls_at_once); the client
    keeps its limits across threads and processes. A call that fails for a passing reason
    leaves its devices unread, and the others' readings are stored all the same.
    """
    return _pull(device_ids)


def device_batches() -> list[list[int]]:
    """Every device, in batches of one vendor each, of at most BATCH_DEVICES devices."""
    by_vendor: dict[str, list[int]] = defaultdict(list)
    for device_id, vendor in Device.objects.order_by("vendor", "pk").values_list("pk", "vendor"):
        by_vendor[vendor].append(device_id)
    return [
        list(batch)
        for device_ids in by_vendor.values()
        for batch in chunked(device_ids, BATCH_DEVICES)
    ]


def refresh_all() -> Tally:
    """Refresh every device in this process, BATCHES_AT_ONCE batches at a time; return how the
    round went (rounds.py says what fails it).

    Devices left unread by an error that passes are read again within the run, after the same
    capped backoff as a task's retry; those still unread after VENDOR_MAX_RETRIES fail their
    batch. A batch that fails does not stop the others; the next round tries its devices
    again. An error of a client's setup (SETUP_ERRORS) stops the round and propagates: every
    other batch would fail the same way.
    """
    batches = device_batches()
    tally = Tally()
    with ThreadPoolExecutor(max_workers=BATCHES_AT_ONCE) as pool:
        futures = {
            pool.submit(_in_own_connection, refresh_with_retries, batch): batch for batch in batches
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
                failed = len(refreshed.failed) + len(refreshed.unread)
                reason = describe_error(refreshed.error) if refreshed.error else ""
                tally.add(len(refreshed.refreshed), failed, reason)
    return tally


def refresh_with_retries(
    device_ids: list[int], sleep: Callable[[float], None] = time.sleep
) -> Refreshed:
    """Refresh these devices, and read again those an error that passes left unread, after a
    capped backoff, up to VENDOR_MAX_RETRIES times; return what was done in all. Devices
    still unread at the end are in `unread`."""
    new_keys: list[int] = []
    refreshed: list[int] = []
    failed: list[int] = []
    pending, retries = device_ids, 0
    while True:
        attempt = refresh_devices(pending)
        new_keys += attempt.new_keys
        refreshed += attempt.refreshed
        failed += attempt.failed
        if attempt.error is None or retries >= settings.VENDOR_MAX_RETRIES:
            return Refreshed(new_keys, refreshed, failed, attempt.unread, attempt.errors)
        delay = retry_delay(retries, attempt.error.retry_after)
        logger.warning("%s. Retry in %.2fs", attempt.unread_summary(), delay)
        sleep(delay)
        pending, retries = attempt.unread, retries + 1


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


def add_partitions() -> Added:
    """Create the readings' partitions up to a week ahead, on PostgreSQL; safe to repeat."""
    return partitions.add_partitions(timezone.now())


def prune_observations() -> Pruned:
    """Delete readings and job heartbeats older than OBSERVATION_RETENTION_DAYS; return what
    went. On PostgreSQL, the readings' partitions wholly past the window are dropped
    (observations/partitions.py).{% if cookiecutter.scheduler == "celery-beat" %} Exports go after EXPORT_KEEP_HOURS.{% endif %}"""
    now = timezone.now()
    cutoff = partitions.retention_cutoff(now)
    pruned = partitions.prune_readings(cutoff)
    heartbeats, _ = JobRun.objects.filter(started_at__lt=cutoff).delete()
{%- if cookiecutter.scheduler == "celery-beat" %}
    exports, _ = Export.objects.filter(
        created_at__lt=now - timedelta(hours=settings.EXPORT_KEEP_HOURS)
    ).delete()
    return pruned + Pruned(heartbeats + exports)
{%- else %}
    return pruned + Pruned(heartbeats)
{%- endif %}


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
    unread: list[int] = []
    errors: list[TransientVendorError] = []
    for vendor, vendor_devices in by_vendor.items():
        try:
            client = vendor_client(vendor)
        except PermanentVendorError as unknown:
            refused |= {device.pk: str(unknown) for device in vendor_devices}
            continue
        key_of = {device.vendor_device_id: device.pk for device in vendor_devices}
        calls = [list(call) for call in chunked(vendor_devices, client.batch_size)]
        at_once = limiter_for(vendor).limits.calls_at_once or DEFAULT_CALLS_AT_ONCE
        for read in in_threads(partial(_read, client), calls, at_once):
            refused |= read.refused
            if read.error is not None:
                unread += [device.pk for device in read.devices]
                errors.append(read.error)
            for report in read.reports:
                device_id = key_of[report.vendor_device_id]
                _add_report(device_id, report, statuses, attributes, reported_online)

    unread_keys = set(unread)
    answered = [device for device in devices if device.pk not in unread_keys]
    said = Said(statuses, attributes, reported_online, refused)
    try:
        with transaction.atomic():
            stored = _store(answered, said)
    except (DataError, IntegrityError):
        # Readings the database refuses (a value out of range, a missing time): store each
        # device's on their own, so that the device they came from is the only one to lose.
        stored = _store_each(answered, said)
    return Refreshed(stored.new_keys, stored.refreshed, stored.failed, unread, tuple(errors))


@dataclass(frozen=True)
class Read:
    """What one vendor call said of its devices, or the error that passes which it met."""

    devices: list[Device]
    reports: list[DeviceReport] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    error: TransientVendorError | None = None


def _read(client: VendorClient, call: list[Device]) -> Read:
    refused: dict[int, str] = {}
    try:
        return Read(call, _read_batch(client, call, refused), refused)
    except TransientVendorError as error:
        return Read(call, error=error)


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
    asked = set(ids)
    try:
        # A report of a device not asked for (a vendor's quirk) would have no row to go to.
        return [report for report in client.read_devices(ids) if report.vendor_device_id in asked]
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


def _in_own_connection(job: Callable[..., T], *args: Any) -> T:
    """Run a job in a pool thread, closing the database connection the thread opened."""
    try:
        return job(*args)
    finally:
        connections.close_all()
