"""Switch a device from the command line: `manage.py set_status 3 on`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
{%- if cookiecutter.scheduler == "celery-beat" %}

from config.celery import NotQueued
{%- endif %}

from ....devices.models import Device
from ...control import CannotSwitch, request_status
from ...models import Command as DeviceCommand


class Command(BaseCommand):
    help = "Switch a device on or off and wait until its vendor confirms."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("device", type=int, metavar="DEVICE_ID")
        parser.add_argument("state", choices=["on", "off"])
        parser.add_argument(
            "--wait", type=float, default=30.0, metavar="SECONDS", help="how long to wait"
        )

    def handle(self, device: int, state: str, wait: float, **options: Any) -> None:
        target = Device.objects.filter(pk=device).first()
        if target is None:
            raise CommandError(f"No device has id {device}.")
        try:
            command, _ = request_status(target, is_on=state == "on")
{%- if cookiecutter.scheduler == "celery-beat" %}
        except (CannotSwitch, NotQueued) as error:
{%- else %}
        except CannotSwitch as error:
{%- endif %}
            raise CommandError(str(error)) from None
        deadline = time.monotonic() + wait
        while not command.is_settled and time.monotonic() < deadline:
            time.sleep(0.2)
            command.refresh_from_db()
        if command.state == DeviceCommand.State.FAILED:
            raise CommandError(f"Command {command.pk} failed: {command.error}")
        if not command.is_settled:
            # Not a failure yet, but not what was asked for: the exit says so.
            raise CommandError(
                f"Command {command.pk} is {command.state}, not confirmed within {wait:g} s: it "
                "goes on, and its page in the admin shows how it ends."
            )
        self.stdout.write(f"Command {command.pk}: {command.state}")
