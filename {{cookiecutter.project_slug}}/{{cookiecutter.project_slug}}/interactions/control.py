"""Switching and refreshing devices on request: the one path the admin, the API, the dashboard
and the command line share."""

from __future__ import annotations

{% if cookiecutter.scheduler == "celery-beat" -%}
import logging
{% endif -%}
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
{%- if cookiecutter.scheduler == "celery-beat" %}
from kombu.exceptions import OperationalError

from config.celery import NotQueued
{%- endif %}

from ..devices.models import Device
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
from ..vendors.base import VendorError
from . import delivery, jobs
{%- else %}
from . import delivery
{%- endif %}
from .models import Command
{%- if cookiecutter.scheduler == "celery-beat" %}
from .tasks import refresh_devices, send_command

logger = logging.getLogger(__name__)
{%- endif %}

if TYPE_CHECKING:
    # django-stubs' names for AUTH_USER_MODEL (or AnonymousUser), which its mypy plugin resolves.
    from django.contrib.auth.models import _AnyUser, _User


class IdempotencyKeyReused(Exception):
    """The idempotency key already names a command for another device or state."""


class CannotSwitch(Exception):
    """The device cannot be switched (a sensor): no command is created, nothing is sent."""

    def __init__(self, device: Device):
        super().__init__(f"{device} cannot be switched on or off: its vendor lists it as a sensor.")


def request_status(
    device: Device,
    is_on: bool,
    *,
    requested_by: _AnyUser | None = None,
    idempotency_key: str = "",
) -> tuple[Command, bool]:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Queue a command for the device; a worker sends it. Poll the command until it settles.
    Raise NotQueued when the task queue cannot be reached.
{%- else %}
    """Send a command to the device now and return it confirmed, failed, or accepted by a
    vendor that does not say the new state (a later read confirms it).

    With no worker to retry later, a vendor error fails the command at once; the person who
    asked sees why and can ask again.
{%- endif %}

    Raise CannotSwitch for a device that cannot be switched. Return the command and whether
    this call created it. A call with the idempotency key of an earlier command by the same
    person (a client retrying after a lost answer) returns that command as it stands and sends
    nothing, unless no attempt ever sent it (the queue could not be reached): then it is sent
    now.
    """
    # Every caller signs people in first: an anonymous user here is a view without its guard.
    if requested_by is not None and not requested_by.is_authenticated:
        raise PermissionDenied("Sign in to switch a device.")
    # Refused here, the one path every caller takes, before a command exists: the vendor
    # would fail it anyway, after a round trip, with an error the person cannot act on.
    if not device.can_switch:
        raise CannotSwitch(device)
    earlier = _earlier_command(device, is_on, requested_by, idempotency_key)
    if earlier is not None:
        if delivery.requeue_if_never_sent(earlier):
            send(earlier.pk)
            earlier.refresh_from_db()
        return earlier, False
    try:
        with transaction.atomic():
            command = Command.objects.create(
                device=device,
                is_on=is_on,
                requested_by=requested_by,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # A retry with the same key got in between the lookup and the insert.
        earlier = _earlier_command(device, is_on, requested_by, idempotency_key)
        if earlier is None:
            raise
        return earlier, False
    send(command.pk)
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
    command.refresh_from_db()
{%- endif %}
    return command, True


def send(command_id: int) -> None:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Queue the command for a worker, or raise NotQueued, having failed it, when the queue
    cannot be reached.

    Inside a caller's transaction the row is not visible to a worker before the commit: it is
    queued then, and should the queue fail at that moment, the sweeper queues it later.
    """
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: resend(command_id))
        return
    try:
        send_command.delay(command_id)
    except OperationalError as error:
        logger.warning("Command %s not queued: %s", command_id, error)
        delivery.fail_command(command_id, delivery.NOT_QUEUED)
        raise NotQueued("nothing was sent") from error


def resend(command_id: int) -> None:
    """Queue a command again, or leave it to the next sweep (settle_commands) when the queue
    cannot be reached: the sweeper's way to send, which fails nothing."""
    try:
        send_command.delay(command_id)
    except OperationalError as error:
        logger.warning("Command %s left for the sweeper to queue: %s", command_id, error)
{%- else %}
    """Send the command now, in this process; a vendor error fails it."""
    try:
        jobs.set_status(command_id)
    except VendorError as error:
        jobs.fail_command(command_id, str(error))


def resend(command_id: int) -> None:
    """Send again a command whose attempt was abandoned: now, as every command is sent."""
    send(command_id)
{%- endif %}


def request_refresh(device_ids: list[int]) -> str:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Queue a refresh of these devices; return what was done, for the person who asked."""
    try:
        refresh_devices.delay_on_commit(device_ids)
    except OperationalError as error:
        logger.warning("Refresh of %d devices not queued: %s", len(device_ids), error)
        return str(NotQueued("nothing was refreshed"))
    return f"Queued a refresh of {len(device_ids)} devices."
{%- else %}
    """Refresh these devices now; return what was done, for the person who asked."""
    try:
        refreshed = jobs.refresh_devices(device_ids)
    except VendorError as error:
        return f"The refresh failed: {error}"
    return (
        f"Refreshed {len(refreshed.refreshed)} of {len(device_ids)} devices: "
        f"{len(refreshed.new_keys)} new readings."
    )
{%- endif %}


def _earlier_command(
    device: Device, is_on: bool, requested_by: _User | None, idempotency_key: str
) -> Command | None:
    if not idempotency_key:
        return None
    earlier = Command.objects.filter(
        requested_by=requested_by, idempotency_key=idempotency_key
    ).first()
    if earlier is not None and (earlier.device_id, earlier.is_on) != (device.pk, is_on):
        raise IdempotencyKeyReused(
            f"The idempotency key already names command {earlier.pk}, for another device or "
            "state: send a new key with a new command."
        )
    return earlier
