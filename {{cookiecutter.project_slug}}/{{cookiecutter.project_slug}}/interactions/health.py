"""Is everything alive? Devices that have gone silent, and periodic jobs that stopped
succeeding (a run that never recorded its end counts as failed once it is overdue).

A problem opens one Alert when it starts, logged once at ERROR (which reaches ADMINS), and the
alert is resolved when the problem ends; checking again in between changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..devices.models import Device, online_since
from .models import Alert, JobRun
from .rounds import settle_lost_runs

if TYPE_CHECKING:
    from .schedule import PeriodicJob

logger = logging.getLogger(__name__)


def silent_devices(now: datetime) -> QuerySet[Device]:
    """Offline devices that have had the time to be heard from: a device added a minute ago
    and not refreshed yet is not silent."""
    return Device.objects.offline(now).exclude(
        last_seen_at__isnull=True, created_at__gte=online_since(now)
    )


def is_silent(device: Device, now: datetime) -> bool:
    since = online_since(now)
    return (device.last_seen_at or device.created_at) < since


@dataclass(frozen=True)
class JobHealth:
    job: PeriodicJob
    last_run: JobRun | None
    last_success: JobRun | None
    overdue: bool


def _periodic_jobs() -> tuple[PeriodicJob, ...]:
    from .schedule import periodic_jobs  # the schedule lists check_health: import it late

    return periodic_jobs()


def job_health(now: datetime) -> list[JobHealth]:
    """Each periodic job's latest run and latest success; overdue when it has not succeeded
    within twice its interval, once the schedule has been running that long."""
    first_run = None
    health = []
    for job in _periodic_jobs():
        runs = JobRun.objects.filter(name=job.name).order_by("-started_at")
        last_run = runs.first()
        last_success = runs.filter(outcome=JobRun.Outcome.SUCCEEDED).first()
        allowed = 2 * job.every
        if last_success is not None:
            overdue = last_success.started_at < now - allowed
        else:
            # Asked only for a job that has never succeeded: it sorts every run there is.
            first_run = first_run or JobRun.objects.order_by("started_at").first()
            overdue = first_run is not None and first_run.started_at < now - allowed
        health.append(JobHealth(job, last_run, last_success, overdue))
    return health


def check_health(now: datetime | None = None) -> list[int]:
    """Open an alert for each new problem, resolve those that ended; return the new alerts'
    keys."""
    now = now or timezone.now()
    settle_lost_runs(_periodic_jobs(), now)
    problems = {
        (Alert.Kind.DEVICE_SILENT, str(device.pk)): (
            f"Device {device} ({device.vendor} {device.vendor_device_id}) has not been heard "
            f"from since {_when(device.last_seen_at)}."
        )
        for device in silent_devices(now)
    }
    problems |= {
        (Alert.Kind.JOB_OVERDUE, health.job.name): (
            f"Job {health.job.name} has not succeeded since "
            f"{_when(health.last_success.started_at if health.last_success else None)}."
        )
        for health in job_health(now)
        if health.overdue
    }

    open_alerts = {(a.kind, a.subject): a for a in Alert.objects.filter(resolved_at=None)}
    ended = [alert.pk for key, alert in open_alerts.items() if key not in problems]
    Alert.objects.filter(pk__in=ended).update(resolved_at=now)

    opened = []
    for (kind, subject), message in problems.items():
        if (kind, subject) in open_alerts:
            continue
        try:
            with transaction.atomic():
                alert = Alert.objects.create(kind=kind, subject=subject, message=message)
        except IntegrityError:
            continue  # another check opened it a moment ago
        logger.error("%s", message)
        opened.append(alert.pk)
    return opened


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "ever"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
