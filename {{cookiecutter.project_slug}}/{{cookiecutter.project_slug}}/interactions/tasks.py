"""Celery tasks: thin wrappers that add delivery policy to the jobs in jobs.py.

Policy, in one place: tasks take and return primary keys; they are acknowledged late, so a task
whose worker dies is delivered again (the jobs are idempotent for that); transient errors (the
vendor's, or the database's: a deadlock, a lost connection) are retried with capped, jittered
exponential backoff, at least as late as a 429's Retry-After, and never past the task's expiry;
permanent ones are not retried. A task that gives up logs one ERROR, which reaches ADMINS by
mail{% if cookiecutter.use_sentry %} and Sentry{% endif %}.

The periodic jobs' tasks are not written here: each follows from its entry in schedule.py
(periodic_task).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from celery import Celery, Task, group, shared_task
from celery.contrib.django.task import DjangoTask
from celery.signals import task_revoked
from celery.utils.time import maybe_iso8601
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from ..vendors.base import PermanentVendorError, TransientVendorError
from . import batches, delivery, jobs
from .heartbeats import describe_error, run_recorded
from .retries import retry_delay
from .schedule import PeriodicJob, periodic_job

logger = logging.getLogger(__name__)

T = TypeVar("T")


def expiry(request: Any) -> datetime | None:
    """When a task's message expires, or None. celery-types declare `expires` an int; Celery
    hands the worker an ISO 8601 string (or a datetime when the task ran in-process)."""
    return maybe_iso8601(cast("str | datetime | None", request.expires))


class VendorTask(DjangoTask):
    """A task that calls a vendor: retried on transient errors only, never past its expiry."""

    max_retries = settings.VENDOR_MAX_RETRIES

    def call_vendor(self, job: Callable[..., T], *args: Any) -> T | None:
        try:
            return job(*args)
        except (TransientVendorError, OperationalError) as error:
            delay = retry_delay(self.request.retries, getattr(error, "retry_after", None))
            if self.may_retry(delay):
                raise self.retry(exc=error, countdown=delay) from error
            self.give_up(error, *args)
        except PermanentVendorError as error:
            self.give_up(error, *args)
        return None

    def may_retry(self, delay: float) -> bool:
        # In-process (no broker configured) there is no queue to wait in: give up now.
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return False
        # A retry keeps the task's expiry (Celery passes it on): one due after it would be
        # dropped unrun, so give up now rather than hold the message until then.
        expires = expiry(self.request)
        return expires is None or timezone.now() + timedelta(seconds=delay) < expires

    def give_up(self, error: Exception, *args: Any) -> None:
        logger.error(
            "%s%r gave up after %d retries: %s", self.name, args, self.request.retries, error
        )


class RefreshBatchTask(VendorTask):
    """A batch of a round: however it ends, its round counts it (batches.py)."""

    def give_up(self, error: Exception, batch_id: int) -> None:
        super().give_up(error, batch_id)
        batches.fail_batch(batch_id, describe_error(error))

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # An error nobody planned for (a bug, the soft time limit) fails the batch all the same.
        batches.fail_batch(args[0], describe_error(exc))


@shared_task(base=VendorTask, bind=True, name="interactions.refresh_devices")
def refresh_devices(self: VendorTask, device_ids: list[int]) -> list[int] | None:
    # A few devices, read to confirm a command: retried whole if one is left unread.
    return self.call_vendor(_refresh_every_one, device_ids)


def _refresh_every_one(device_ids: list[int]) -> list[int]:
    refreshed = jobs.refresh_devices(device_ids)
    refreshed.raise_unread()
    return refreshed.new_keys


@shared_task(base=RefreshBatchTask, bind=True, name="interactions.refresh_batch")
def refresh_batch(self: RefreshBatchTask, batch_id: int) -> list[int] | None:
    return self.call_vendor(batches.refresh_batch, batch_id)


@task_revoked.connect
def fail_an_expired_batch(
    sender: Any = None, request: Any = None, expired: bool = False, **kwargs: Any
) -> None:
    """A batch dropped unrun because the next round was due fails in its round."""
    if expired and getattr(sender, "name", None) == refresh_batch.name:
        batches.fail_batch(request.args[0], "expired: not done when the next round was due")


@shared_task(bind=True, name="interactions.refresh_all")
def refresh_all(self: Task) -> int:
    """Start a round: one refresh_batch task per batch, run by whichever workers are free.

    The batch that ends last settles the round's record. Batches expire when the next round is
    due, as this task does (beat gives it that expiry; one started by hand gets an interval),
    so that a slow or failing vendor never gets calls for a round that is over.
    """
    job = periodic_job("refresh_all")
    run, batch_ids = batches.start_round(job.name, jobs.device_batches())
    expires = expiry(self.request) or run.started_at + job.every
    group(refresh_batch.si(batch_id).set(expires=expires) for batch_id in batch_ids).apply_async()
    return run.pk


class SendCommandTask(VendorTask):
    def give_up(self, error: Exception, command_id: int) -> None:
        super().give_up(error, command_id)
        jobs.fail_command(command_id, str(error))

    def retry(self, *args: Any, **options: Any) -> Any:
        # The attempt gives its claim back until the retry is due, for the retry to take.
        (command_id,) = self.request.args or ()
        delivery.release(command_id, options.get("countdown") or 0)
        return super().retry(*args, **options)


@shared_task(base=SendCommandTask, bind=True, name="interactions.send_command")
def send_command(self: SendCommandTask, command_id: int) -> int | None:
    return self.call_vendor(partial(jobs.set_status, read_soon=read_to_confirm), command_id)


def read_to_confirm(device_id: int) -> None:
    """A command the vendor accepted without saying the new state waits for a read of its
    device: ask for one shortly, rather than at the next round."""
    refresh_devices.apply_async(([device_id],), countdown=delivery.CONFIRMING_READ_DELAY)


def periodic_task(app: Celery, job: PeriodicJob) -> Task:
    """The task beat sends to run `job`: `interactions.<its name>`, registered on `app` when
    it is not yet. config/celery.py asks for one per entry in schedule.py as the app is set up,
    in the worker as in beat.

    One task per job, named after it, rather than one task taking the job's name: the names
    stay those that messages already queued and beat entries already in Redis carry, and each
    job is told apart wherever tasks are logged or watched. A job whose task is written above
    keeps it (refresh_all spreads its round over the workers); any other runs in one worker,
    recorded as `run_job` records it, and is not retried: its next run is due within one
    interval.
    """
    name = f"interactions.{job.name}"
    if name not in app.tasks:

        def run_periodic_job() -> int:
            # Looked up at each run, for the job the schedule names now.
            return run_recorded(job.name, periodic_job(job.name).run).pk

        run_periodic_job.__doc__ = job.description
        app.task(name=name)(run_periodic_job)
    return app.tasks[name]
