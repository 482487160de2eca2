from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..safejson import JSONField

if TYPE_CHECKING:
    # django-stubs' name for AUTH_USER_MODEL or AnonymousUser, which its mypy plugin resolves.
    from django.contrib.auth.models import _AnyUser


# What "online" and "silent" mean, once: the API, the dashboard, the admin and the health
# check all ask these functions and the queryset methods built on them.


def online_since(now: datetime | None = None) -> datetime:
    """Devices heard from since this moment may count as online.

    SILENT_AFTER_INTERVALS refresh intervals (3 by default), so that one late or failed refresh
    does not flip a device offline.
    """
    interval = settings.MONITOR_INTERVAL_SECONDS * settings.SILENT_AFTER_INTERVALS
    return (now or timezone.now()) - timedelta(seconds=interval)


def online_q(now: datetime | None = None) -> Q:
    """Online: its vendor answered for it lately, and did not say it is offline (a vendor that
    does not say leaves reported_online unknown, and then answering is enough)."""
    return Q(last_seen_at__gte=online_since(now)) & ~Q(reported_online=False)


def is_online(
    last_seen_at: datetime | None, reported_online: bool | None, now: datetime | None = None
) -> bool:
    """online_q, for one device's values."""
    return _heard_lately(last_seen_at, now) and reported_online is not False


def silent_q(now: datetime | None = None) -> Q:
    """Silent: its vendor has not answered for it lately, though it had the time to: a device
    added a minute ago and not refreshed yet is not silent."""
    since = online_since(now)
    heard = Q(last_seen_at__gte=since)
    new = Q(last_seen_at__isnull=True, created_at__gte=since)
    return ~heard & ~new


def is_silent(
    last_seen_at: datetime | None, created_at: datetime, now: datetime | None = None
) -> bool:
    """silent_q, for one device's values."""
    return (last_seen_at or created_at) < online_since(now)


def reported_offline_q(now: datetime | None = None) -> Q:
    """Reported offline: its vendor answered for it lately, and said it is offline. Offline,
    though not silent: the vendor is fine, the device is not."""
    return Q(last_seen_at__gte=online_since(now), reported_online=False)


def is_reported_offline(
    last_seen_at: datetime | None, reported_online: bool | None, now: datetime | None = None
) -> bool:
    """reported_offline_q, for one device's values."""
    return _heard_lately(last_seen_at, now) and reported_online is False


def _heard_lately(last_seen_at: datetime | None, now: datetime | None) -> bool:
    return last_seen_at is not None and last_seen_at >= online_since(now)


class DeviceQuerySet(models.QuerySet["Device"]):
    def visible_to(self, user: _AnyUser) -> DeviceQuerySet:
        """The devices a person may see and command: their own; staff see every device."""
        if user.is_staff:
            return self
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)

    def online(self, now: datetime | None = None) -> DeviceQuerySet:
        return self.filter(online_q(now))

    def offline(self, now: datetime | None = None) -> DeviceQuerySet:
        return self.exclude(online_q(now))

    def silent(self, now: datetime | None = None) -> DeviceQuerySet:
        return self.filter(silent_q(now))

    def reported_offline(self, now: datetime | None = None) -> DeviceQuerySet:
        return self.filter(reported_offline_q(now))

    def listed(self) -> DeviceQuerySet:
        """The devices their vendor still lists (sync_devices flags the others)."""
        return self.filter(unlisted_at=None)

    def lock(self, *, to_delete: bool = False) -> list[int]:
        """Lock these devices' rows until the transaction ends; return the keys of those that
        still exist.

        Whatever writes rows that hang off a device (readings, and the latest tables their
        triggers keep) or deletes the device locks it first, in key order, and only then
        writes: two such transactions wait for each other, where each could otherwise hold a
        row the other needs, which PostgreSQL ends as a deadlock. Writers take the weaker lock,
        which keeps a delete out and leaves reads alone. SQLite locks the whole database.
        """
        locked = self.select_for_update(no_key=not to_delete).order_by("pk")
        return list(locked.values_list("pk", flat=True))

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            Device.objects.using(self.db).filter(pk__in=self.values("pk")).lock(to_delete=True)
            return super().delete()


class Device(models.Model):
    """A device in the field, known to its vendor's cloud by `vendor_device_id`."""

    name = models.CharField(max_length=100)
    location = models.CharField(max_length=100, blank=True)
    vendor = models.CharField(
        max_length=50,
        default="simulator",
        help_text="The vendor whose cloud reaches this device: a key of settings.VENDORS.",
    )
    vendor_device_id = models.CharField("vendor's device id", max_length=100)
    metadata = JSONField(
        default=dict,
        blank=True,
        help_text="What the vendor says of the device: model, firmware, features.",
    )
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When the vendor last answered for this device."
    )
    reported_online = models.BooleanField(
        "online, says the vendor",
        null=True,
        blank=True,
        help_text="The vendor's own word on the device's connection at the last read; "
        "empty when the vendor does not say.",
    )
    can_switch = models.BooleanField(
        default=True, help_text="Whether the vendor lets the device be switched on and off."
    )
    reading_names = JSONField(
        default=list, blank=True, help_text="The readings the vendor lists for the device."
    )
    unlisted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the vendor's device list stopped including the device; it is kept, "
        "with its readings, until deleted.",
    )
    last_error = models.TextField(
        blank=True, help_text="Why the vendor last refused this device; empty once it answers."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        help_text="Who may see and command this device; staff see every device.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeviceQuerySet.as_manager()
    # Not a field: the API sets it to the device's observations.queries.LatestReadings before
    # writing a device with them; a lower layer than observations, this one does not name it.
    latest: object

    class Meta:
        ordering = ["name"]
        constraints = [
            # Two vendors may well use the same id for different devices.
            models.UniqueConstraint(
                fields=["vendor", "vendor_device_id"], name="device_unique_per_vendor"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_online(self) -> bool:
        return is_online(self.last_seen_at, self.reported_online)

    def is_silent(self, now: datetime | None = None) -> bool:
        return is_silent(self.last_seen_at, self.created_at, now)

    def is_reported_offline(self, now: datetime | None = None) -> bool:
        return is_reported_offline(self.last_seen_at, self.reported_online, now)

    @property
    def is_unlisted(self) -> bool:
        return self.unlisted_at is not None

    def delete(
        self, using: str | None = None, keep_parents: bool = False
    ) -> tuple[int, dict[str, int]]:
        # Locked first, as DeviceQuerySet.lock explains (the API and the admin delete here).
        using = using or router.db_for_write(Device, instance=self)
        with transaction.atomic(using=using):
            Device.objects.using(using).filter(pk=self.pk).lock(to_delete=True)
            return super().delete(using=using, keep_parents=keep_parents)

    def clean(self) -> None:
        if self.vendor not in settings.VENDORS:
            known = ", ".join(sorted(settings.VENDORS))
            raise ValidationError(
                {"vendor": f"{self.vendor!r} is not in settings.VENDORS (known: {known})."}
            )
