"""Celery tasks: thin wrappers that add delivery policy to the jobs in jobs.py.

Policy, in one place: tasks take and return primary keys; they are acknowledged late, so a task
whose worker dies is delivered again (the jobs are idempotent for that); transient vendor
errors are retried with capped, jittered exponential backoff, at least as late as a 429's
Retry-After; permanent ones are not retried. A task that gives up logs one ERROR, which reaches
ADMINS by mail{% if cookiecutter.use_sentry %} and Sentry{% endif %}.
"""

from __future__ import annotations

import logging
import random

from celery import group, shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings

from ..vendors.base import PermanentVendorError, TransientVendorError, VendorError
from . import health, jobs
from .heartbeats import recorded_run

logger = logging.getLogger(__name__)


def retry_delay(retries: int, retry_after: float | None) -> float:
    """Seconds before retry number `retries + 1`.

    Full jitter spreads retries of many tasks apart; the cap keeps every delay shorter than
    Redis's visibility timeout, beyond which a waiting task would be delivered twice.
    """
    cap = settings.VENDOR_RETRY_MAX_DELAY
    backoff = random.uniform(0, min(cap, settings.VENDOR_RETRY_BASE_DELAY * 2**retries))
    return min(cap, max(backoff, retry_after or 0))


class VendorTask(DjangoTask):
    """A task that calls a vendor: retried on transient errors only."""

    max_retries = settings.VENDOR_MAX_RETRIES

    def call_vendor(self, job, *args):
        try:
            return job(*args)
        except TransientVendorError as error:
            # In-process (no broker configured) there is no queue to wait in: give up now.
            if self.request.retries < self.max_retries and not self.request.is_eager:
                delay = retry_delay(self.request.retries, error.retry_after)
                raise self.retry(exc=error, countdown=delay) from error
            self.give_up(error, *args)
        except PermanentVendorError as error:
            self.give_up(error, *args)
        return None

    def give_up(self, error: VendorError, *args) -> None:
        logger.error(
            "%s%r gave up after %d retries: %s", self.name, args, self.request.retries, error
        )


@shared_task(base=VendorTask, bind=True, name="interactions.refresh_devices")
def refresh_devices(self: VendorTask, device_ids: list[int]) -> list[int] | None:
    refreshed = self.call_vendor(jobs.refresh_devices, device_ids)
    return refreshed and refreshed.new_keys


@shared_task(name="interactions.refresh_all")
def refresh_all() -> int:
    """Fan out: one refresh_devices task per batch, run by whichever workers are free."""
    with recorded_run("refresh_all") as run:
        batches = jobs.device_batches()
        group(refresh_devices.s(batch) for batch in batches).apply_async()
        run.detail = f"queued {len(batches)} batches, {sum(map(len, batches)):,} devices"
    return len(batches)


@shared_task(name="interactions.prune_observations")
def prune_observations() -> int:
    with recorded_run("prune_observations") as run:
        deleted = jobs.prune_observations()
        run.detail = f"{deleted:,} rows deleted"
    return deleted


class SendCommandTask(VendorTask):
    def give_up(self, error: VendorError, command_id: int) -> None:
        super().give_up(error, command_id)
        jobs.fail_command(command_id, str(error))


@shared_task(base=SendCommandTask, bind=True, name="interactions.send_command")
def send_command(self: SendCommandTask, command_id: int) -> int | None:
    return self.call_vendor(jobs.set_status, command_id)


@shared_task(name="interactions.check_health")
def check_health() -> int:
    with recorded_run("check_health") as run:
        opened = health.check_health()
        run.detail = f"{len(opened)} new alerts"
    return len(opened)
