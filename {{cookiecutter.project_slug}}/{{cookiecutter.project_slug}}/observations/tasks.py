"""The export task: a worker writes an export's file a part at a time (exports.py)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from kombu.exceptions import OperationalError

from config.celery import NotQueued

from . import exports

logger = logging.getLogger(__name__)


class ExportTask(DjangoTask):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Whatever stopped it (the database, the time limit, a bug), the person polling the
        # export reads that it failed, and why.
        exports.fail(args[0], f"{type(exc).__name__}: {exc}")


@shared_task(base=ExportTask, bind=True, name="observations.export_readings")
def export_readings(self: ExportTask, export_id: int) -> int:
    """Write an export's next parts for half the soft time limit, then queue the rest as a
    task of its own: no task nears its time limits, whatever the export's size."""
    if not exports.write_parts(export_id, settings.CELERY_TASK_SOFT_TIME_LIMIT / 2):
        export_readings.delay(export_id)
    return export_id


def queue_export(export_id: int) -> None:
    """Queue an export for a worker, or fail it and raise NotQueued when the queue cannot be
    reached."""
    try:
        export_readings.delay(export_id)
    except OperationalError as error:
        logger.warning("Export %s not queued: %s", export_id, error)
        exports.fail(export_id, "not queued: the task queue could not be reached")
        raise NotQueued("nothing was exported") from error
