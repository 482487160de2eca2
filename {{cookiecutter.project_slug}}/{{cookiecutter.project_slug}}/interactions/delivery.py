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

A vendor that takes a command without saying the new state leaves it `accepted`: the first read
of the device that shows the state asked for confirms it (confirm_accepted), and the sweeper
fails it past the timeout. An accepted command is never sent again: the vendor has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from ..observations.ingest import StatusRow
from .models import Command

IN_FLIGHT = (Command.State.QUEUED, Command.State.SENT)
UNSETTLED = (*IN_FLIGHT, Command.State.ACCEPTED)
# Seconds after a vendor accepts a command before its device is read to confirm it: time for
# the vendor to reach the device.
CONFIRMING_READ_DELAY = 5
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


def accept_command(command_id: int) -> bool:
    """Record that the vendor took the command without saying the new state; False if the
    command settled meanwhile (the sweeper failed it)."""
    return bool(
        Command.objects.filter(pk=command_id, state=Command.State.SENT).update(
            state=Command.State.ACCEPTED
        )
    )


def confirm_accepted(statuses: list[StatusRow]) -> list[int]:
    """Confirm the accepted commands whose device a read shows in the state they asked for;
    return their keys. Runs in the reading job's transaction."""
    shown = {row.device_id: row for row in statuses}
    accepted = Command.objects.filter(state=Command.State.ACCEPTED, device_id__in=shown)
    confirmed = []
    for command in accepted.only("pk", "device_id", "is_on"):
        status = shown[command.device_id]
        if status.is_on == command.is_on:
            Command.objects.filter(pk=command.pk, state=Command.State.ACCEPTED).update(
                state=Command.State.CONFIRMED,
                vendor_answer=answer(status.is_on, status.state, status.valid_at),
                finished_at=timezone.now(),
            )
            confirmed.append(command.pk)
    return confirmed


def answer(is_on: bool, state: str, valid_at: datetime) -> dict:
    """A status the vendor reported, as Command.vendor_answer keeps it."""
    return {"is_on": is_on, "state": state, "valid_at": valid_at.isoformat()}


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
    unsettled = Command.objects.filter(state__in=UNSETTLED)
    failed = []
    for command in unsettled.filter(created_at__lt=now - timedelta(seconds=timeout)):
        why = unconfirmed_because(command)
        fail_command(command.pk, f"not confirmed within {timeout} s: {why}")
        failed.append(command.pk)
    in_flight = Command.objects.filter(state__in=IN_FLIGHT)

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


def unconfirmed_because(command: Command) -> str:
    if command.state == Command.State.ACCEPTED:
        asked = "on" if command.is_on else "off"
        return f"the vendor accepted it, but no read showed the device {asked}"
    return "no worker took it" if command.attempts == 0 else "the vendor did not confirm it"
