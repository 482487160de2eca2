"""Every job run leaves a JobRun row: when it started and ended, and how it went."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from .models import JobRun


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def finish(run: JobRun) -> None:
    """Save how a run ended: its outcome, detail and counts, and the time."""
    run.finished_at = timezone.now()
    run.save(
        update_fields=["outcome", "detail", "devices_refreshed", "devices_failed", "finished_at"]
    )


@contextmanager
def recorded_run(name: str) -> Iterator[JobRun]:
    """Record a run of job `name`; the body may set `run.detail` to say what it did, or
    record a round's tally on it (rounds.Tally.record), which may fail the run."""
    run = JobRun.objects.create(name=name)
    try:
        yield run
    except Exception as error:
        run.outcome = JobRun.Outcome.FAILED
        run.detail = describe_error(error)
        raise
    else:
        if run.outcome == JobRun.Outcome.RUNNING:
            run.outcome = JobRun.Outcome.SUCCEEDED
    finally:
        finish(run)
