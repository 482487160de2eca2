"""A round's batches when each runs as a task of its own (celery-beat mode).

A round is a JobRun with one RefreshBatch row per batch. Each batch records its outcome once:
acks_late delivers a batch again when its worker died, and that delivery finds the outcome
recorded and does nothing; a retried batch records once, when it finally ends, and is retried
with only the devices it has not read yet: what it read before is stored and counted on its
row. The batch that
records the last outcome settles the round, under a lock on its JobRun's row, so no task waits
for another and no result backend is needed. A round whose batches never all record (expired
unrun, lost with a worker) is settled by the health check (rounds.settle_lost_runs).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from . import jobs
from .heartbeats import finish
from .models import JobRun, RefreshBatch
from .rounds import Tally, settle

logger = logging.getLogger(__name__)


def start_round(name: str, batches: list[list[int]]) -> tuple[JobRun, list[int]]:
    """Record a round of job `name` with these batches; return it and its batches' keys. A
    round without batches is settled at once."""
    with transaction.atomic():
        run = JobRun.objects.create(name=name)
        created = RefreshBatch.objects.bulk_create(
            RefreshBatch(run=run, device_ids=batch) for batch in batches
        )
        if not created:
            Tally().record(run)
            finish(run)
    return run, [batch.pk for batch in created]


def refresh_batch(batch_id: int) -> list[int]:
    """Refresh a batch's devices and record how it went; return the keys of the new rows.

    Vendor errors propagate, for the task to retry or give up (fail_batch). Devices an error
    that passes left unread stay the batch's, for its retry; the others are counted now.
    """
    device_ids = pending_devices(batch_id)
    if device_ids is None:
        return []  # delivered again after it recorded, or its round is over: nothing to do
    refreshed = jobs.refresh_devices(device_ids)
    if refreshed.error is not None:
        # Stored already; should the worker die before this, the batch is delivered again
        # with all its devices, and ingest adds no row twice.
        keep_unread(batch_id, refreshed)
        # The retry's own line names one error; this one names every call's.
        logger.warning("Batch %d: %s", batch_id, refreshed.unread_summary())
        refreshed.raise_unread()
    record_batch(batch_id, len(refreshed.refreshed), len(refreshed.failed))
    return refreshed.new_keys


def keep_unread(batch_id: int, refreshed: jobs.Refreshed) -> None:
    """Count what a batch did so far, and leave it only its unread devices."""
    RefreshBatch.objects.filter(pk=batch_id, outcome=JobRun.Outcome.RUNNING).update(
        device_ids=refreshed.unread,
        devices_refreshed=F("devices_refreshed") + len(refreshed.refreshed),
        devices_failed=F("devices_failed") + len(refreshed.failed),
    )


def pending_devices(batch_id: int) -> list[int] | None:
    """The devices of a batch that has not recorded its outcome, else None."""
    pending = RefreshBatch.objects.filter(pk=batch_id, outcome=JobRun.Outcome.RUNNING)
    return pending.values_list("device_ids", flat=True).first()


def fail_batch(batch_id: int, error: str) -> bool:
    """Record that a batch failed: each of its devices counts as failed."""
    return record_batch(batch_id, error=error)


def record_batch(batch_id: int, refreshed: int = 0, failed: int = 0, error: str = "") -> bool:
    """Record a batch's outcome, unless it is recorded already; settle its round if it was the
    last. Return whether this call recorded it."""
    with transaction.atomic():
        # Every batch of the round locks its row first, so they record one at a time, and
        # exactly one of them sees that no batch is left.
        run = JobRun.objects.select_for_update(of=("self",)).filter(batches=batch_id).first()
        if run is None:
            return False
        batch = run.batches.filter(pk=batch_id, outcome=JobRun.Outcome.RUNNING).first()
        if batch is None:
            return False
        # Added to what the batch counted before a retry (keep_unread).
        if error:
            batch.outcome = JobRun.Outcome.FAILED
            batch.devices_failed += len(batch.device_ids)
            batch.error = error[:2000]
        else:
            batch.outcome = JobRun.Outcome.SUCCEEDED
            batch.devices_refreshed += refreshed
            batch.devices_failed += failed
        batch.save()
        if not run.batches.filter(outcome=JobRun.Outcome.RUNNING).exists():
            settle(run, unfinished="")
    return True
