"""The one list of periodic jobs.

Adding a periodic job is adding its entry to periodic_jobs() and writing the function it runs
(in jobs.py, say); nothing else needs an edit. From the entry follow:
{%- if cookiecutter.scheduler == "celery-beat" %}
- its Celery task, `interactions.NAME` (tasks.periodic_task), and its beat entry
  (config/celery.py), which expires when the next run is due;
- its line in `manage.py show_schedule`, with its last and next run;
{%- else %}
- its line in `manage.py show_schedule`: the Heroku Scheduler entry to create;
{%- endif %}
- `manage.py run_job NAME`, which runs it now, in this process;
- its JobRun records, its row on the admin's Schedule page, and the health check's alert
  when it stops succeeding.

The function takes no arguments. What it returns is written on its record: a list counts the
rows it added, a round's Tally its devices, anything else reads as itself (heartbeats.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from ..devices.sync import sync_devices
from . import delivery, health, jobs
from .models import JobRun


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    run: Callable[[], object]
    every: timedelta
    description: str

    @property
    def expires(self) -> timedelta:
        # A run that has not started within one interval is dropped: the next one is due.
        return self.every

    @property
    def lost_after(self) -> timedelta:
        """How long a run may read "running": past this, the health check records it failed."""
{%- if cookiecutter.scheduler == "celery-beat" %}
        # Its last batch may start just before the next run is due, when batches expire, and
        # then take up to the task time limit.
        return self.every + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
{%- else %}
        # A run still going when the next one is due has overrun its interval.
        return self.every
{%- endif %}


def periodic_jobs() -> tuple[PeriodicJob, ...]:
    return (
        PeriodicJob(
            name="refresh_all",
            run=jobs.refresh_all,
            every=timedelta(seconds=settings.MONITOR_INTERVAL_SECONDS),
            description="Read every device's status and readings from its vendor.",
        ),
        PeriodicJob(
            name="check_health",
            run=check_health,
            every=timedelta(seconds=settings.MONITOR_INTERVAL_SECONDS),
            description="Alert once about devices gone silent and jobs that stopped succeeding.",
        ),
        PeriodicJob(
            name="settle_commands",
            run=settle_commands,
            every=timedelta(seconds=settings.MONITOR_INTERVAL_SECONDS),
            description=(
                "Send again the commands whose last attempt was abandoned; fail those older "
                "than COMMAND_TIMEOUT_SECONDS."
            ),
        ),
        PeriodicJob(
            name="sync_devices",
            run=sync_devices,
            every=timedelta(seconds=settings.SYNC_DEVICES_INTERVAL_SECONDS),
            description=(
                "Import each vendor's device list: create, update, and flag the devices it no "
                "longer lists."
            ),
        ),
        PeriodicJob(
            name="add_partitions",
            run=jobs.add_partitions,
            every=timedelta(days=1),
            description=(
                "Create the readings' time partitions for the week ahead (PostgreSQL; SQLite "
                "has none)."
            ),
        ),
        PeriodicJob(
            name="prune_observations",
            run=jobs.prune_observations,
            every=timedelta(days=1),
            description=(
                "Delete readings older than OBSERVATION_RETENTION_DAYS: on PostgreSQL, whole "
                "partitions are dropped."
            ),
        ),
    )


# Jobs whose result needs words to read well on their record.
def check_health() -> str:
    return f"{len(health.check_health())} new alerts"


def settle_commands() -> delivery.Swept:
    from .control import resend  # control sends through the tasks, which read this schedule

    return delivery.settle_commands(resend)


def periodic_job(name: str) -> PeriodicJob:
    """The periodic job called `name`; KeyError if there is none."""
    jobs_by_name = {job.name: job for job in periodic_jobs()}
    if name not in jobs_by_name:
        raise KeyError(f"no periodic job named {name!r} in schedule.py")
    return jobs_by_name[name]


def next_run_at(job: PeriodicJob, last_run: JobRun | None, now: datetime) -> datetime:
    """When the job is due: one interval after its last start, or now if it never ran."""
    if last_run is None:
        return now
    return max(now, last_run.started_at + job.every)
