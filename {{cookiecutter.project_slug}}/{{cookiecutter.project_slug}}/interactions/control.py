"""Switching devices: the one path the admin, the API and the command line share."""

from __future__ import annotations

from ..devices.models import Device
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
from ..vendors.base import VendorError
from . import jobs
{%- endif %}
from .models import Command
{%- if cookiecutter.scheduler == "celery-beat" %}
from .tasks import refresh_devices, send_command
{%- endif %}


def request_status(device: Device, is_on: bool) -> Command:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Queue a command for the device; a worker sends it. Poll the command until it settles."""
    command = Command.objects.create(device=device, is_on=is_on)
    # Sent once the transaction commits, so the worker always finds the row.
    send_command.delay_on_commit(command.pk)
    return command
{%- else %}
    """Send a command to the device now and return it settled: confirmed or failed.

    With no worker to retry later, a vendor error fails the command at once; the person who
    asked sees why and can ask again.
    """
    command = Command.objects.create(device=device, is_on=is_on)
    try:
        jobs.set_status(command.pk)
    except VendorError as error:
        jobs.fail_command(command.pk, str(error))
    command.refresh_from_db()
    return command
{%- endif %}


def request_refresh(device_ids: list[int]) -> str:
{%- if cookiecutter.scheduler == "celery-beat" %}
    """Queue a refresh of these devices; return what was done, for the person who asked."""
    refresh_devices.delay_on_commit(device_ids)
    return f"Queued a refresh of {len(device_ids)} devices."
{%- else %}
    """Refresh these devices now; return what was done, for the person who asked."""
    try:
        new_rows = jobs.refresh_devices(device_ids)
    except VendorError as error:
        return f"The refresh failed: {error}"
    return f"Refreshed {len(device_ids)} devices: {len(new_rows)} new readings."
{%- endif %}
