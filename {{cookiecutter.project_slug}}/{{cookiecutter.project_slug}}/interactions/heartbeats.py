"""Every job run leaves a JobRun row: when it started and ended, and how it went."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from django.utils import timezone

from .models import JobRun

logger = logging.getLogger(__name__)


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


@runtime_checkable
class RecordsItself(Protocol):
    """A result that writes its own outcome on its run (rounds.Tally): a round may fail
    without raising."""

    def record(self, run: JobRun) -> None: ...


def run_recorded(name: str, job: Callable[..., object], *args: int) -> JobRun:
    """Run `job(*args)` as a run of job `name`, and record what it returned; an error fails
    the run and propagates. The one way every job is run, by a worker or `run_job`, so that
    its record reads the same whichever ran it.

    A run its result failed (a round with a failed batch) logs one ERROR, which reaches the
    admins; an error that propagates is logged by whoever ran the job (the worker, run_job).
    """
    with recorded_run(name) as run:
        result = job(*args)
        if isinstance(result, RecordsItself):
            result.record(run)
        else:
            run.detail = describe(result)
    if run.outcome == JobRun.Outcome.FAILED:
        logger.error("%s failed: %s", name, run.detail)
    return run


def describe(result: object) -> str:
    """What a job's result says on its run: a list holds the keys of the rows it added."""
    if isinstance(result, list):
        return f"{len(result):,} new rows"
    if isinstance(result, int):
        return f"{result:,} rows"
    return "done" if result is None else str(result)
