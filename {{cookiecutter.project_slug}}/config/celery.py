"""The Celery application; workers and beat start it with `celery -A config`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from celery import Celery
from celery.schedules import schedule
from celery.signals import beat_init, worker_init

from config.startup import (
    one_line_configuration_errors,
    refuse_to_start_unless_checks_pass,
    use_default_settings,
)

if TYPE_CHECKING:
    from celery.worker import WorkController

# Before the app exists: Celery sets up Django only when it finds DJANGO_SETTINGS_MODULE.
use_default_settings()

app = Celery("{{ cookiecutter.project_slug }}")
# Every Celery setting lives in Django's settings, prefixed CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def load_django_settings(sender: Celery, **kwargs: object) -> None:
    # Celery reads its first setting deep inside its command-line parsing, where a missing
    # variable would end in a traceback.
    from django.conf import settings

    with one_line_configuration_errors():
        settings.INSTALLED_APPS  # noqa: B018


@app.on_after_configure.connect
def configure_redbeat(sender: Celery, **kwargs: object) -> None:
    # RedBeat reads its settings unprefixed. Its lock keeps a second beat from dispatching;
    # a beat that died holds it until the lock times out.
    sender.conf.redbeat_redis_url = sender.conf.broker_url
    sender.conf.redbeat_lock_timeout = sender.conf.beat_max_loop_interval * 5
    # A Redis that stops answering without closing the connection fails a tick rather than
    # hanging it: beat waits out the outage (config/beat.py).
    sender.conf.redbeat_redis_options = {"socket_timeout": 10, "socket_connect_timeout": 10}


@app.on_after_finalize.connect
def schedule_periodic_jobs(sender: Celery, **kwargs: object) -> None:
    """Each entry in interactions/schedule.py, the one list of periodic jobs, gets its task
    and its beat entry: the worker knows every task beat sends."""
    from {{ cookiecutter.project_slug }}.interactions.schedule import periodic_jobs
    from {{ cookiecutter.project_slug }}.interactions.tasks import periodic_task

    for job in periodic_jobs():
        sender.add_periodic_task(
            schedule(job.every),
            periodic_task(sender, job).s(),
            name=job.name,
            # A run not started within its interval is dropped: the next one is due.
            expires=job.expires.total_seconds(),
        )


class NotQueued(Exception):
    """The task queue could not be reached, so the task was not queued; the record it was to
    work on, if it has one (a command, an export), has failed, saying so. Asking again queues
    it anew."""

    # Seconds to wait before asking again: a Redis restart takes about this long.
    retry_after = 30

    def __init__(self, undone: str):
        super().__init__(
            f"The task queue cannot be reached, so {undone}: try again in {self.retry_after} s."
        )


class BrokerSettings(Protocol):
    """What the visibility timeout check reads of Celery's settings."""

    @property
    def broker_url(self) -> str: ...
    @property
    def broker_transport_options(self) -> dict[str, Any]: ...
    @property
    def task_time_limit(self) -> float: ...


def visibility_timeout_problem(conf: BrokerSettings, max_retry_delay: float) -> str | None:
    """Why Redis would deliver a task twice with these settings, or None.

    Redis hands an unacknowledged task to another worker after `visibility_timeout`. A task
    that runs, or waits for its retry, longer than that would run twice.
    """
    if not conf.broker_url.startswith(("redis://", "rediss://")):
        return None
    visibility_timeout = conf.broker_transport_options.get("visibility_timeout", 3600)
    needed = conf.task_time_limit + max_retry_delay
    if visibility_timeout <= needed:
        return (
            f"Redis visibility_timeout ({visibility_timeout} s) must exceed the task time limit "
            f"plus the longest retry delay ({needed:g} s): raise CELERY_VISIBILITY_TIMEOUT."
        )
    return None


@worker_init.connect
def refuse_to_start_misconfigured_worker(sender: WorkController, **kwargs: object) -> None:
    from django.conf import settings

    problem = visibility_timeout_problem(sender.app.conf, settings.VENDOR_RETRY_MAX_DELAY)
    if problem:
        # SystemExit, because Celery logs and swallows ordinary exceptions from signals.
        raise SystemExit(problem)
    refuse_to_start_unless_checks_pass("worker")


@beat_init.connect
def refuse_to_start_misconfigured_beat(sender: object, **kwargs: object) -> None:
    # Before RedBeat takes its lock, which a beat that then stops would hold until it expires.
    refuse_to_start_unless_checks_pass("beat")
