"""A refresh round: refresh_all's batches, and the one record that says how they went.

The record (a JobRun) counts the devices refreshed and failed, and it fails when a batch
failed. Tally writes it, in both scheduler modes, so it reads the same whichever ran the round.

What fails a round: a batch that gave up (the vendor still failing after the retries, an error
that is never retried, a database error) or never finished (expired when the next round was
due, or lost with its worker or process). What does not: a device its vendor refuses for good.
It counts as failed, the reason is kept on the device (and logged once), and it raises its own
silent-device alert; a round failed by one stray device would fail at every run, and hide the
outages that the overdue-job alert is there to report.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction

from .heartbeats import finish
from .models import JobRun

if TYPE_CHECKING:
    from .schedule import PeriodicJob

logger = logging.getLogger(__name__)


@dataclass
class Tally:
    """How a round went: devices refreshed and failed, and the batches that failed, by why."""

    batches: int = 0
    refreshed: int = 0
    failed: int = 0
    failed_batches: Counter[str] = field(default_factory=Counter)

    def add(self, refreshed: int, failed: int, error: str = "") -> None:
        """Count one batch; `error` says why it failed, if it did."""
        self.batches += 1
        self.refreshed += refreshed
        self.failed += failed
        if error:
            self.failed_batches[error] += 1

    @property
    def outcome(self) -> JobRun.Outcome:
        return JobRun.Outcome.FAILED if self.failed_batches else JobRun.Outcome.SUCCEEDED

    @property
    def detail(self) -> str:
        noun = "device" if self.refreshed == 1 else "devices"
        detail = f"{self.refreshed:,} {noun} refreshed, {self.failed:,} failed"
        if self.failed_batches:
            reasons = "; ".join(
                reason if count == 1 else f"{reason} ({count} batches)"
                for reason, count in self.failed_batches.most_common()
            )
            failed = sum(self.failed_batches.values())
            detail += f"; {failed} of {self.batches} batches failed: {reasons}"
        return detail[:2000]

    def record(self, run: JobRun) -> None:
        """Write the outcome and counts on the round's record; the caller saves it."""
        run.outcome = self.outcome
        run.detail = self.detail
        run.devices_refreshed = self.refreshed
        run.devices_failed = self.failed


def settle(run: JobRun, unfinished: str) -> None:
    """Record how a round went from its batches, and drop them; a batch still unfinished
    fails, for the reason `unfinished`. The caller holds the lock on the run's row."""
    tally = Tally()
    for batch in run.batches.all():
        if batch.outcome == JobRun.Outcome.RUNNING:
            # What it read before a retry counts; the devices it still had fail.
            failed = batch.devices_failed + len(batch.device_ids)
            tally.add(batch.devices_refreshed, failed, unfinished)
        else:
            tally.add(batch.devices_refreshed, batch.devices_failed, batch.error)
    tally.record(run)
    finish(run)
    run.batches.all().delete()


def settle_lost_runs(jobs: Iterable[PeriodicJob], now: datetime) -> list[int]:
    """Record as failed every run still running past its job's `lost_after`: its process
    stopped before it could record its end, or its batches never all finished. Return their
    keys. Without this, such a run would read "running" forever."""
    settled = []
    for job in jobs:
        stale = JobRun.objects.filter(
            name=job.name, outcome=JobRun.Outcome.RUNNING, started_at__lt=now - job.lost_after
        )
        for run_id in stale.values_list("pk", flat=True):
            with transaction.atomic():
                # Locked as a batch that records its outcome locks it: one of the two settles.
                run = (
                    JobRun.objects.select_for_update()
                    .filter(pk=run_id, outcome=JobRun.Outcome.RUNNING)
                    .first()
                )
                if run is None:
                    continue
                within = f"{job.lost_after.total_seconds():g} s"
                if run.batches.exists():
                    settle(run, f"not finished within {within}: expired or lost")
                else:
                    run.outcome = JobRun.Outcome.FAILED
                    run.detail = f"not finished within {within}: its process stopped"
                    finish(run)
            logger.warning("%s settled as failed: %s", run, run.detail)
            settled.append(run_id)
    return settled
