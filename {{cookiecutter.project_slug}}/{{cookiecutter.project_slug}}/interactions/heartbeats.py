"""Every job run leaves a JobRun row: when it started and ended, and how it went."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from .models import JobRun


@contextmanager
def recorded_run(name: str) -> Iterator[JobRun]:
    """Record a run of job `name`; the body may set `run.detail` to say what it did."""
    run = JobRun.objects.create(name=name)
    try:
        yield run
    except Exception as error:
        run.outcome = JobRun.Outcome.FAILED
        run.detail = f"{type(error).__name__}: {error}"[:2000]
        raise
    else:
        run.outcome = JobRun.Outcome.SUCCEEDED
    finally:
        run.finished_at = timezone.now()
        run.save(update_fields=["outcome", "detail", "finished_at"])
