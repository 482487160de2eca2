{% if cookiecutter.scheduler == "heroku-scheduler" -%}
"""Run one job now, in this process: `manage.py run_job refresh_all`.

This is how Heroku Scheduler runs the periodic jobs (see `manage.py show_schedule`).
"""
{%- else -%}
"""Run one job now, in this process: `manage.py run_job refresh_all`."""
{%- endif %}

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ....devices.models import Device
from ....vendors.base import VendorError
from ... import jobs
from ...heartbeats import recorded_run
from ...models import JobRun
from ...rounds import Tally
from ...schedule import periodic_jobs

# Jobs about one device; they need --device.
DEVICE_JOBS = {
    "pull_status": jobs.pull_status,
    "pull_attributes": jobs.pull_attributes,
    "refresh_device": jobs.refresh_device,
}


def job_names() -> list[str]:
    return [job.name for job in periodic_jobs()] + list(DEVICE_JOBS)


class Command(BaseCommand):
    help = "Run a job now: a periodic job, or a device job with --device."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"one of: {', '.join(job_names())}")
        parser.add_argument("--device", type=int, metavar="ID", help="the device's id")

    def handle(self, name: str, device: int | None, **options: Any) -> None:
        job: Callable[..., object]
        arguments: tuple[int, ...]
        periodic = {job.name: job for job in periodic_jobs()}.get(name)
        if periodic is not None:
            if device is not None:
                raise CommandError(f"{name} runs on every device; leave out --device.")
            job, arguments = periodic.run, ()
        elif name in DEVICE_JOBS:
            if device is None:
                raise CommandError(f"{name} needs --device ID.")
            if not Device.objects.filter(pk=device).exists():
                raise CommandError(f"No device has id {device}.")
            job, arguments = DEVICE_JOBS[name], (device,)
        else:
            raise CommandError(f"Unknown job {name!r}: choose one of {', '.join(job_names())}.")

        started = time.monotonic()
        try:
            with recorded_run(name) as run:
                result = job(*arguments)
                if isinstance(result, Tally):
                    result.record(run)  # a round says how it went, and whether it failed
                else:
                    run.detail = describe(result)
        except VendorError as error:
            raise CommandError(f"{name} failed: {error}") from None
        if run.outcome == JobRun.Outcome.FAILED:
            raise CommandError(f"{name} failed: {run.detail}")
        elapsed = time.monotonic() - started
        self.stdout.write(f"{name}: {run.detail} in {elapsed:.1f} s")


def describe(result: object) -> str:
    if isinstance(result, list):
        return f"{len(result):,} new rows"
    if isinstance(result, int):
        return f"{result:,} rows"
    return "done"
