{%- if cookiecutter.scheduler == "celery-beat" -%}
"""Print the periodic jobs with their last and next runs: `manage.py show_schedule`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.timezone import localtime

from ...health import job_health
from ...schedule import next_run_at


class Command(BaseCommand):
    help = "Print each periodic job: how often it runs, how it last went, when it runs next."

    def handle(self, **options: Any) -> None:
        now = timezone.now()
        self.stdout.write(f"{'job':<20} {'every':<10} {'last run':<30} next run")
        for health in job_health(now):
            job, run = health.job, health.last_run
            last = "never"
            if run is not None:
                last = f"{localtime(run.started_at):%Y-%m-%d %H:%M:%S} {run.outcome}"
            due = next_run_at(job, run, now)
            upcoming = "due now" if due <= now else f"{localtime(due):%Y-%m-%d %H:%M:%S}"
            self.stdout.write(f"{job.name:<20} {every(job.every):<10} {last:<30} {upcoming}")


def every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
{%- else -%}
"""Print the jobs to create in Heroku Scheduler: `manage.py show_schedule`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand

from ... import schedule

# The frequencies Heroku Scheduler offers.
FREQUENCIES = (
    (timedelta(minutes=10), "Every 10 minutes"),
    (timedelta(hours=1), "Every hour"),
    (timedelta(days=1), "Every day"),
)


class Command(BaseCommand):
    help = "Print the Heroku Scheduler jobs to create, one per periodic job."

    def handle(self, **options: Any) -> None:
        self.stdout.write("Create these jobs in Heroku Scheduler (heroku addons:open scheduler):")
        for job in schedule.periodic_jobs():
            frequency = heroku_frequency(job.every)
            line = f"  {frequency:<17} python manage.py run_job {job.name}"
            self.stdout.write(f"{line:<68} # {job.description}")
            if job.every < FREQUENCIES[0][0]:
                self.stderr.write(
                    f"  note: {job.name} is set to run every {job.every}, more often than "
                    "Heroku Scheduler can; it will run every 10 minutes."
                )


def heroku_frequency(interval: timedelta) -> str:
    """The most frequent Heroku Scheduler choice that is not more frequent than `interval`."""
    chosen = FREQUENCIES[0][1]
    for period, name in FREQUENCIES:
        if period <= interval:
            chosen = name
    return chosen
{%- endif %}
