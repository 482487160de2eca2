from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..devices.models import Device


class Command(models.Model):
    """A request to switch a device, followed from the moment it is asked for until the
    vendor confirms or refuses it; a UI polls it until it settles."""

    class State(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        # The vendor took the command without saying the new state: a read confirms it.
        ACCEPTED = "accepted"
        CONFIRMED = "confirmed"
        FAILED = "failed"

    SETTLED = (State.CONFIRMED, State.FAILED)

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    is_on = models.BooleanField(help_text="The state asked for.")
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    vendor_answer = models.JSONField(
        default=dict, blank=True, help_text="The status the vendor reported back."
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="commands",
    )
    idempotency_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="A retried request with the same key sends nothing twice.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the command was last queued, or when its next retry is due.",
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest attempt to send it started."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts to send it: each may have reached the vendor."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        indexes = [
            models.Index(fields=["device", "-created_at"], name="command_device_recent"),
            # The sweeper's look for commands still in flight (interactions/delivery.py).
            models.Index(
                fields=["created_at"],
                condition=models.Q(state__in=["queued", "sent", "accepted"]),
                name="command_unsettled",
            ),
        ]
        constraints = [
            # Settles the race of two retries arriving at once: the second insert fails, and
            # it answers with the command the first one created.
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="command_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        action = "on" if self.is_on else "off"
        return f"{self.device} {action}: {self.state}"

    @property
    def is_settled(self) -> bool:
        return self.state in self.SETTLED


class JobRun(models.Model):
    """One run of a job: the heartbeat the schedule reads, in both scheduler modes."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    name = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.RUNNING)
    detail = models.TextField(blank=True, help_text="What the run did, or why it failed.")
    devices_refreshed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Devices whose readings the run stored (refreshes only)."
    )
    devices_failed = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Devices the run could not refresh: refused by the vendor, in a batch that "
        "failed, or whose readings the database refused (refreshes only).",
    )

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [models.Index(fields=["name", "-started_at"], name="jobrun_name_recent")]

    def __str__(self) -> str:
        return f"{self.name} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class RefreshBatch(models.Model):
    """A batch of a refresh round while the round runs: the devices one task refreshes, and
    how it went.

    Batches run in worker processes, and a batch may run twice (redelivered after its worker
    died) or finish late (retried), so each records its outcome once, here, and the one that
    records the last outcome settles the round (interactions/rounds.py). The rows go once
    their round is settled: its JobRun keeps the counts.
    """

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="batches")
    device_ids = models.JSONField(help_text="The primary keys of the batch's devices.")
    outcome = models.CharField(
        max_length=10, choices=JobRun.Outcome, default=JobRun.Outcome.RUNNING
    )
    devices_refreshed = models.PositiveIntegerField(default=0)
    devices_failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the batch failed.")

    class Meta:
        verbose_name_plural = "refresh batches"

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.run}: {self.outcome}"


class Alert(models.Model):
    """A problem that someone should know about, open from when it starts until it ends.

    At most one alert is open per problem, so a device silent for a week raises one alert
    (and one email), not one per check; and the devices of one vendor that go silent (or that
    it reports offline) are one problem, so an outage of the vendor raises one alert, not one
    per device.
    """

    class Kind(models.TextChoices):
        DEVICES_SILENT = "devices_silent", "devices silent"
        DEVICES_OFFLINE = "devices_offline", "devices reported offline"
        JOB_OVERDUE = "job_overdue", "job overdue"
        WEBHOOKS_SILENT = "webhooks_silent", "webhooks stopped"

    kind = models.CharField(max_length=20, choices=Kind)
    subject = models.CharField(max_length=100, help_text="The vendor's name or the job's name.")
    message = models.TextField(help_text="The problem as it stands at the latest check.")
    notified_count = models.PositiveIntegerField(
        default=1,
        help_text="How many devices it concerned when it was last mailed: mailed again when "
        "that number doubles.",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open_per_problem",
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class WebhookDelivery(models.Model):
    """A verified push, by a digest of its signature: a second delivery of the same signature
    within the replay window stores nothing (api/webhooks.py).

    In the database rather than the cache: every web process sees it, whatever cache the
    project has (a local-memory cache is one process's), and it is written in the transaction
    that stores the push, so a push whose storing failed leaves no trace and the vendor's retry
    of it is accepted. The newest delivery of each vendor is kept past the
    window: it says when the vendor last pushed (interactions/health.py).
    """

    vendor = models.CharField(max_length=100)
    signature = models.CharField(max_length=128)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "signature"], name="webhook_delivery_once_per_signature"
            ),
        ]
        indexes = [models.Index(fields=["vendor", "received_at"], name="webhook_delivery_by_time")]

    def __str__(self) -> str:
        return f"{self.vendor} push of {self.received_at:%Y-%m-%d %H:%M:%S}"


class Schedule(JobRun):
    """The admin's schedule page: the periodic jobs, seen through their heartbeats."""

    class Meta:
        proxy = True
        verbose_name = "schedule"
        verbose_name_plural = "schedule"
