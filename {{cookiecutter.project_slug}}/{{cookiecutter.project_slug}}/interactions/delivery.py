"""Commands are delivered, or settle as failed with the reason, within COMMAND_TIMEOUT_SECONDS.

A command's row is the truth about it, not the queue: {% if cookiecutter.scheduler == "celery-beat" %}Redis keeps nothing on disk, so a
restart loses the commands waiting in it, and a worker killed mid-send leaves its command
`sent` until Redis hands the task out again an hour later{% else %}a web process stopped
mid-send (a restart, a timeout) leaves its command `sent`{% endif %}. Each attempt to send a
command first claims it, so that two attempts never send it at once; the sweeper
(`settle_commands`, a periodic job) sends again the commands whose last attempt was abandoned,
and fails those past the timeout. An attempt that follows one that may have reached the vendor
reads the device first: if it is already in the state asked for, the command is confirmed
without being sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from .models import Command

IN_FLIGHT = (Command.State.QUEUED, Command.State.SENT)
# Why a command the queue refused failed. No attempt sent it, so a retry with its idempotency
# key queues it again (requeue_if_never_sent).
NOT_QUEUED = "not queued: the task queue could not be reached"


def attempt_lease() -> timedelta:
    """How long one attempt may take, waiting in the queue or sending; an attempt older than
    this was abandoned (its message lost, its worker gone)."""
{%- if cookiecutter.scheduler == "celery-beat" %}
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
{%- else %}
    # The web process sends within the request, which gunicorn ends after 30 s.
    return timedelta(seconds=60)
{%- endif %}


def claim(command_id: int) -> Command | None:
    """Take the command for one attempt to send it, or None if it is settled, gone, or being
    sent by another attempt right now."""
    now = timezone.now()
    claimed = (
        Command.objects.filter(pk=command_id)
        .filter(
            Q(state=Command.State.QUEUED)
            | Q(state=Command.State.SENT, sent_at__lt=now - attempt_lease())
        )
        .update(state=Command.State.SENT, sent_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return Command.objects.select_related("device").filter(pk=command_id).first()


def release(command_id: int, retry_in: float) -> None:
    """Give an attempt's claim back: the command waits for a retry due in `retry_in` s."""
    Command.objects.filter(pk=command_id, state=Command.State.SENT).update(
        state=Command.State.QUEUED,
        queued_at=timezone.now() + timedelta(seconds=retry_in),
    )


def fail_command(command_id: int, reason: str) -> int:
    """Mark a command failed, unless it has already settled."""
    Command.objects.filter(pk=command_id).exclude(state__in=Command.SETTLED).update(
        state=Command.State.FAILED, error=reason[:2000], finished_at=timezone.now()
    )
    return command_id


def requeue_if_never_sent(command: Command) -> bool:
    """Queue again a command that failed before any attempt to send it, such as one the queue
    refused: a client retrying with its idempotency key asks for exactly that."""
    return bool(
        Command.objects.filter(pk=command.pk, state=Command.State.FAILED, attempts=0).update(
            state=Command.State.QUEUED, error="", finished_at=None, queued_at=timezone.now()
        )
    )


@dataclass(frozen=True)
class Swept:
    resent: list[int]
    failed: list[int]

    def __str__(self) -> str:
        return f"{len(self.resent)} commands sent again, {len(self.failed)} failed"


def settle_commands(send: Callable[[int], object], now: datetime | None = None) -> Swept:
    """Fail the commands older than COMMAND_TIMEOUT_SECONDS; give every other command whose
    last attempt was abandoned to `send`, which makes a new attempt."""
    now = now or timezone.now()
    timeout = settings.COMMAND_TIMEOUT_SECONDS
    in_flight = Command.objects.filter(state__in=IN_FLIGHT)
    failed = []
    for command in in_flight.filter(created_at__lt=now - timedelta(seconds=timeout)):
        why = "no worker took it" if command.attempts == 0 else "the vendor did not confirm it"
        fail_command(command.pk, f"not confirmed within {timeout} s: {why}")
        failed.append(command.pk)

    abandoned_before = now - attempt_lease()
    resent = []
    # Those just failed are no longer in flight: the query runs after they were.
    abandoned = in_flight.filter(
        Q(state=Command.State.QUEUED, queued_at__lt=abandoned_before)
        | Q(state=Command.State.SENT, sent_at__lt=abandoned_before)
    )
    for command_id in abandoned.values_list("pk", flat=True):
        # Not again before another lease has passed, should this attempt be lost too.
        Command.objects.filter(pk=command_id, state=Command.State.QUEUED).update(queued_at=now)
        send(command_id)
        resent.append(command_id)
    return Swept(resent, failed)
