"""Is everything alive? Devices that have gone silent or that their vendor reports offline,
and periodic jobs that stopped succeeding (a run that never recorded its end counts as failed
once it is overdue).

A problem opens one Alert when it starts and is resolved when it ends; checking again in
between changes nothing but the alert's message. The silent devices of one vendor are one
problem, so that an outage of the vendor is one alert that counts them, not one per device;
so are the devices it reports offline. A device the vendor said was offline and that has gone
silent since counts as silent, and, while the vendor's offline alert is open, in that alert
too: a vendor outage neither ends that alert nor, once the vendor answers again and still
says so, opens it (and mails it) a second time. A device the vendor no longer lists
raises neither: sync_devices has flagged it, and its silence says nothing new. A vendor that
pushes (its webhook_secret is set) and has pushed, then sends no verified push for
WEBHOOK_SILENT_AFTER_SECONDS, is one problem too{% if cookiecutter.use_mqtt %}; so is the MQTT consumer that has
received messages, then stores none for MQTT_SILENT_AFTER_SECONDS{% endif %}.
Each check logs at most one ERROR (which reaches ADMINS), for the alerts it opened and those
whose devices have doubled since they were mailed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from ..devices.models import Device, reported_offline_q, silent_q
from ..vendors.registry import pushing_client
{%- if cookiecutter.use_mqtt %}
from .consumer import CONSUMER, last_received
{%- endif %}
from .models import Alert, JobRun, WebhookDelivery
from .rounds import settle_lost_runs

if TYPE_CHECKING:
    from .schedule import PeriodicJob

logger = logging.getLogger(__name__)

# Devices named in an alert about a vendor's devices; the rest are counted.
NAMED = 5


def silent_devices(now: datetime) -> QuerySet[Device]:
    return Device.objects.listed().silent(now)


def reported_offline_devices(now: datetime) -> QuerySet[Device]:
    """The devices their vendor reports offline; and, of a vendor whose offline alert is open,
    those it last said were offline that have gone silent since: what it said last stands."""
    alerted_vendors = Alert.objects.filter(
        kind=Alert.Kind.DEVICES_OFFLINE, resolved_at=None
    ).values("subject")
    still_said = silent_q(now) & Q(reported_online=False, vendor__in=alerted_vendors)
    return Device.objects.listed().filter(reported_offline_q(now) | still_said)


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


@dataclass(frozen=True)
class Problem:
    message: str
    count: int = 1  # the devices it concerns: the alert is mailed again when this doubles


def check_health(now: datetime | None = None) -> list[int]:
    """Open an alert for each new problem, update or resolve the open ones; log one ERROR
    (one email) for all that are new or have doubled since they were mailed. Return the keys
    of those alerts."""
    now = now or timezone.now()
    settle_lost_runs(_periodic_jobs(), now)
    forget_deliveries(now)
    problems = (
        device_problems(now)
        | webhook_problems(now)
{%- if cookiecutter.use_mqtt %}
        | mqtt_problems(now)
{%- endif %}
        | {
            (Alert.Kind.JOB_OVERDUE, health.job.name): Problem(
                f"Job {health.job.name} has not succeeded since "
                f"{_when(health.last_success.started_at if health.last_success else None)}."
            )
            for health in job_health(now)
            if health.overdue
        }
    )

    open_alerts = {(a.kind, a.subject): a for a in Alert.objects.filter(resolved_at=None)}
    ended = [alert.pk for key, alert in open_alerts.items() if key not in problems]
    Alert.objects.filter(pk__in=ended).update(resolved_at=now)

    notify = []
    for (kind, subject), problem in problems.items():
        alert = open_alerts.get((kind, subject))
        if alert is None:
            alert = _open(kind, subject, problem)
            if alert is not None:
                notify.append(alert)
        elif problem.count >= 2 * alert.notified_count:
            Alert.objects.filter(pk=alert.pk).update(
                message=problem.message, notified_count=problem.count
            )
            notify.append(alert)
        elif problem.message != alert.message:
            Alert.objects.filter(pk=alert.pk).update(message=problem.message)
    if notify:
        # One record for all, naming its incident for the mail filter: the same problems,
        # ended and back within its window (a device on the edge of silence), are mailed once.
        keys = [(alert.kind, alert.subject) for alert in notify]
        incident = ",".join(
            f"{kind}:{subject}:{problems[kind, subject].count}" for kind, subject in keys
        )
        messages = " ".join(problems[key].message for key in keys)
        logger.error("Health check: %s", messages, extra={"incident": incident})
    return [alert.pk for alert in notify]


def device_problems(now: datetime) -> dict[tuple[str, str], Problem]:
    """One problem per vendor with silent devices, and one per vendor with devices it reports
    offline: an outage of the vendor is one problem."""
    silent = _by_vendor(silent_devices(now))
    offline = _by_vendor(reported_offline_devices(now))
    totals = dict(
        Device.objects.listed()
        .filter(vendor__in=silent.keys() | offline.keys())
        .values_list("vendor")
        .annotate(Count("pk"))
        .order_by()
    )
    problems: dict[tuple[str, str], Problem] = {}
    for vendor, devices in silent.items():
        problems[(Alert.Kind.DEVICES_SILENT, vendor)] = Problem(
            f"{len(devices)} of {totals[vendor]} devices of vendor {vendor} are silent, the "
            f"first since {_when(devices[0].last_seen_at)}: {_names(devices)}.",
            count=len(devices),
        )
    for vendor, devices in offline.items():
        problems[(Alert.Kind.DEVICES_OFFLINE, vendor)] = Problem(
            f"{len(devices)} of {totals[vendor]} devices of vendor {vendor} are offline, says "
            f"the vendor: {_names(devices)}.",
            count=len(devices),
        )
    return problems


def webhook_problems(now: datetime) -> dict[tuple[str, str], Problem]:
    """One problem per pushing vendor whose last verified push is older than
    WEBHOOK_SILENT_AFTER_SECONDS."""
    last_pushes = WebhookDelivery.objects.values_list("vendor").annotate(Max("received_at"))
    return silence_problems(
        Alert.Kind.WEBHOOKS_SILENT,
        [(vendor, last) for vendor, last in last_pushes.order_by() if pushing_client(vendor)],
        settings.WEBHOOK_SILENT_AFTER_SECONDS,
        now,
        lambda vendor, since: f"Vendor {vendor} has sent no webhook since {since}.",
    )
{%- if cookiecutter.use_mqtt %}


def mqtt_problems(now: datetime) -> dict[tuple[str, str], Problem]:
    """The MQTT consumer, when the last batch it stored is older than MQTT_SILENT_AFTER_SECONDS:
    its heartbeat, a JobRun of each batch, is overdue."""
    return silence_problems(
        Alert.Kind.JOB_OVERDUE,
        [(CONSUMER, last_received())],
        settings.MQTT_SILENT_AFTER_SECONDS,
        now,
        lambda consumer, since: f"{consumer} has received no MQTT message since {since}.",
    )
{%- endif %}


def silence_problems(
    kind: str,
    last_heard: Iterable[tuple[str, datetime | None]],
    silent_after: int,
    now: datetime,
    says: Callable[[str, str], str],
) -> dict[tuple[str, str], Problem]:
    """A problem of `kind` per subject last heard from more than `silent_after` seconds ago
    (0: never a problem), its message says(subject, since when); one never heard from has not
    stopped."""
    if not silent_after:
        return {}
    cutoff = now - timedelta(seconds=silent_after)
    return {
        (kind, subject): Problem(says(subject, _when(last)))
        for subject, last in last_heard
        if last is not None and last < cutoff
    }


def forget_deliveries(now: datetime) -> None:
    """Delete the deliveries a replay can no longer match, but each vendor's newest: its time
    is the vendor's last push. A replay is refused as stale once its timestamp is a window old,
    and the timestamp was signed at most a window before it was first received."""
    cutoff = now - 2 * timedelta(seconds=settings.WEBHOOK_REPLAY_WINDOW_SECONDS)
    newest = WebhookDelivery.objects.filter(vendor=OuterRef("vendor")).order_by("-received_at")
    WebhookDelivery.objects.filter(received_at__lt=cutoff).exclude(
        pk=Subquery(newest.values("pk")[:1])
    ).delete()


def _by_vendor(devices: QuerySet[Device]) -> dict[str, list[Device]]:
    by_vendor: dict[str, list[Device]] = defaultdict(list)
    for device in devices.order_by("vendor", "last_seen_at", "name"):
        by_vendor[device.vendor].append(device)
    return by_vendor


def _names(devices: list[Device]) -> str:
    names = ", ".join(str(device) for device in devices[:NAMED])
    return names + (f" and {len(devices) - NAMED} more" if len(devices) > NAMED else "")


def _open(kind: str, subject: str, problem: Problem) -> Alert | None:
    try:
        with transaction.atomic():
            return Alert.objects.create(
                kind=kind, subject=subject, message=problem.message, notified_count=problem.count
            )
    except IntegrityError:
        return None  # another check opened it a moment ago


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "ever"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
