{% if cookiecutter.scheduler == "heroku-scheduler" -%}
"""Run one job now, in this process: `manage.py run_job refresh_all`.

This is how Heroku Scheduler runs the periodic jobs (see `manage.py show_schedule`).
"""
{%- else -%}
"""Run one job now, in this process: `manage.py run_job refresh_all`."""
{%- endif %}

from __future__ import annotations

import logging
import time
from collections.abc import Callable
{%- if cookiecutter.use_sentry and cookiecutter.scheduler == "heroku-scheduler" %}
from contextlib import nullcontext
{%- endif %}
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
{%- if cookiecutter.use_sentry and cookiecutter.scheduler == "heroku-scheduler" %}

from config.sentry import cron_monitor
{%- endif %}

from ....devices.models import Device
from ....vendors.base import VendorError
from ... import jobs, schedule
from ...heartbeats import run_recorded
from ...models import JobRun

logger = logging.getLogger(__name__)

# Jobs about one device; they need --device.
DEVICE_JOBS = {"refresh_device": jobs.refresh_device}


def job_names() -> list[str]:
    return [job.name for job in schedule.periodic_jobs()] + list(DEVICE_JOBS)


class Command(BaseCommand):
    help = "Run a job now: a periodic job, or a device job with --device."
    # The checks a job depends on (its vendors' settings, somewhere for alerts to go), not the
    # web's: checking the URLs would import every view, the admin, DRF and the API schema
    # first, a second of CPU at every run that Heroku Scheduler starts.
    requires_system_checks = ["vendors", "alerts"]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"one of: {', '.join(job_names())}")
        parser.add_argument("--device", type=int, metavar="ID", help="the device's id")

    def handle(self, name: str, device: int | None, **options: Any) -> None:
        job: Callable[..., object]
        arguments: tuple[int, ...]
        periodic = {job.name: job for job in schedule.periodic_jobs()}.get(name)
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
{%- if cookiecutter.use_sentry and cookiecutter.scheduler == "heroku-scheduler" %}
        # Sentry Crons hears of each run of a periodic job, and of its failure.
        with cron_monitor(name, periodic.every) if periodic else nullcontext():
            run = run_job(name, job, arguments)
{%- else %}
        run = run_job(name, job, arguments)
{%- endif %}
        elapsed = time.monotonic() - started
        self.stdout.write(f"{name}: {run.detail} in {elapsed:.1f} s")


def run_job(name: str, job: Callable[..., object], arguments: tuple[int, ...]) -> JobRun:
    """Run the job with its record; if it failed, one ERROR, which reaches the admins as a
    worker's failed task does, and CommandError, in one line, for a non-zero exit."""
    try:
        run = run_recorded(name, job, *arguments)
    except VendorError as error:
        logger.error("%s failed: %s", name, error)
        raise CommandError(f"{name} failed: {error}") from None
    if run.outcome == JobRun.Outcome.FAILED:
        # run_recorded has logged it.
        raise CommandError(f"{name} failed: {run.detail}")
    return run
