"""Import the vendors' device lists now: `manage.py sync_devices [--vendor V] [--dry-run]
[--owner USER]`.

The periodic job does the same for every vendor (devices/sync.py says what a sync does). A run
of every vendor that writes leaves the job's heartbeat, as the scheduled run does; a dry run,
or one vendor's, does not stand for the job and leaves none.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ....devices.sync import Synced, SyncFailed, sync_devices
from .run_job import run_recorded


class Command(BaseCommand):
    help = "Import each vendor's device list: create, update, and flag what it no longer lists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--vendor", metavar="VENDOR", help="only this vendor's devices")
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would change; write nothing"
        )
        parser.add_argument(
            "--owner", metavar="USERNAME", help="who owns the devices it creates (default: none)"
        )

    def handle(self, vendor: str | None, dry_run: bool, owner: str | None, **options: Any) -> None:
        if vendor is not None and vendor not in settings.VENDORS:
            known = ", ".join(sorted(settings.VENDORS))
            raise CommandError(f"Unknown vendor {vendor!r}: choose one of {known}.")
        User = get_user_model()
        person = None
        if owner is not None:
            person = User.objects.filter(**{User.USERNAME_FIELD: owner}).first()
            if person is None:
                raise CommandError(f"No user is called {owner!r}.")

        def sync() -> Synced:
            return sync_devices(vendor, dry_run=dry_run, owner=person)

        if vendor is None and not dry_run:
            run = run_recorded("sync_devices", sync, ())
            self.stdout.write(f"sync_devices: {run.detail}")
            return
        try:
            synced = sync()
        except SyncFailed as error:
            raise CommandError(f"sync_devices failed: {error}") from None
        self.stdout.write(f"sync_devices: {synced}")
