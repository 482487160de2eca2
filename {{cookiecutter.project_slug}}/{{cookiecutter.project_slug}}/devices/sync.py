"""Import a vendor account's devices: what each vendor lists becomes the project's devices.

`sync_devices()` asks each vendor for its list (`VendorClient.list_devices()`) and, matching
devices by (vendor, vendor_device_id), creates the ones it does not know, updates the name,
metadata and capabilities of the ones it knows (the vendor's word wins; the location and the
owner are the project's own and stay), flags those the vendor no longer lists (`unlisted_at`:
kept, with their readings, until someone deletes them) and clears the flag of those listed
again. The periodic job, `manage.py sync_devices` and the admin's "Import devices from the
vendor" action all run it; running it twice changes nothing the second time.

Each vendor is synced in its own transaction, in a handful of statements whatever its number
of devices. A vendor whose list cannot be read leaves its devices as they were, the others are
still synced, and the whole run then fails (SyncFailed) so that someone hears of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..vendors.base import DeviceInfo, VendorError
from ..vendors.registry import vendor_client
from .models import Device

if TYPE_CHECKING:
    from django.contrib.auth.models import _User

# What the vendor's list says of a device, and so what a sync overwrites.
FROM_THE_LIST = ("name", "metadata", "can_switch", "reading_names")
NAME_LENGTH = Device._meta.get_field("name").max_length or 100
UPDATE_SLICE = 10_000
Count = Literal["created", "updated", "unlisted", "relisted"]


@dataclass
class VendorSynced:
    """What a sync did to one vendor's devices (or would do, in a dry run)."""

    vendor: str
    created: int = 0
    updated: int = 0
    unlisted: int = 0
    relisted: int = 0
    # Why the vendor's list could not be read; its devices were left as they were.
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return f"{self.vendor}: failed, nothing changed: {self.error}"
        return (
            f"{self.vendor}: {self.created} created, {self.updated} updated, "
            f"{self.unlisted} unlisted, {self.relisted} relisted"
        )


@dataclass(frozen=True)
class Synced:
    """What a sync did, vendor by vendor."""

    vendors: tuple[VendorSynced, ...]
    dry_run: bool = False

    def total(self, what: Count) -> int:
        """Devices created, updated, unlisted or relisted, over every vendor."""
        return sum(getattr(vendor, what) for vendor in self.vendors)

    @property
    def failed(self) -> list[VendorSynced]:
        return [vendor for vendor in self.vendors if vendor.error]

    def __str__(self) -> str:
        done = "; ".join(str(vendor) for vendor in self.vendors) or "no vendors"
        return f"{done} (dry run: nothing written)" if self.dry_run else done


class SyncFailed(VendorError):
    """A vendor's list could not be read: the run failed, though other vendors were synced
    (`synced` says what was done)."""

    def __init__(self, synced: Synced):
        super().__init__(str(synced))
        self.synced = synced


def sync_devices(
    vendor: str | None = None, dry_run: bool = False, owner: _User | None = None
) -> Synced:
    """Sync the devices of one vendor, or of every vendor in settings.VENDORS; give the
    devices it creates to `owner`. A dry run reads the lists and writes nothing.

    Return what was done; raise SyncFailed, after syncing the others, if a vendor failed.
    """
    vendors = [vendor] if vendor is not None else list(settings.VENDORS)
    synced = Synced(tuple(_sync_vendor(name, dry_run, owner) for name in vendors), dry_run)
    if synced.failed:
        raise SyncFailed(synced)
    return synced


def _sync_vendor(vendor: str, dry_run: bool, owner: _User | None) -> VendorSynced:
    try:
        listed = vendor_client(vendor).list_devices()
    except VendorError as error:
        return VendorSynced(vendor, error=str(error) or type(error).__name__)
    return import_devices(vendor, listed, dry_run=dry_run, owner=owner)


def import_devices(
    vendor: str,
    listed: Iterable[DeviceInfo],
    *,
    dry_run: bool = False,
    owner: _User | None = None,
) -> VendorSynced:
    """Make the vendor's devices what `listed` says: the whole of its list, as a sync reads
    it (seed_demo hands it the simulated account it has just set up)."""
    by_id = _by_id(listed)
    with transaction.atomic():
        # Locked as every writer of devices locks them (DeviceQuerySet.lock): a refresh or a
        # delete running meanwhile waits, rather than deadlocks.
        Device.objects.filter(vendor=vendor).lock()
        known = {device.vendor_device_id: device for device in Device.objects.filter(vendor=vendor)}
        now = timezone.now()
        created = [
            Device(vendor=vendor, vendor_device_id=vendor_device_id, owner=owner)
            for vendor_device_id in by_id.keys() - known.keys()
        ]
        for device in created:
            _take(device, by_id[device.vendor_device_id])
        updated = [
            device
            for vendor_device_id, device in known.items()
            if vendor_device_id in by_id and _take(device, by_id[vendor_device_id])
        ]
        relisted = [
            device
            for vendor_device_id, device in known.items()
            if vendor_device_id in by_id and device.unlisted_at is not None
        ]
        unlisted = [
            device.pk
            for vendor_device_id, device in known.items()
            if vendor_device_id not in by_id and device.unlisted_at is None
        ]
        if not dry_run:
            Device.objects.bulk_create(sorted(created, key=lambda d: d.vendor_device_id))
            changed = sorted({*updated, *relisted}, key=lambda device: device.pk)
            # updated_at too: bulk_update, an UPDATE, skips auto_now as update() does.
            for device in changed:
                device.unlisted_at = None
                device.updated_at = now
            Device.objects.bulk_update(changed, [*FROM_THE_LIST, "unlisted_at", "updated_at"])
            # In slices: SQLite refuses a statement with more than 32,766 parameters.
            for start in range(0, len(unlisted), UPDATE_SLICE):
                Device.objects.filter(pk__in=unlisted[start : start + UPDATE_SLICE]).update(
                    unlisted_at=now, updated_at=now
                )
    return VendorSynced(vendor, len(created), len(updated), len(unlisted), len(relisted))


def _by_id(listed: Iterable[DeviceInfo]) -> dict[str, DeviceInfo]:
    """The vendor's devices by id; should it list one twice, its first entry counts."""
    by_id: dict[str, DeviceInfo] = {}
    for info in listed:
        by_id.setdefault(info.vendor_device_id, info)
    return by_id


def _take(device: Device, info: DeviceInfo) -> bool:
    """Give the device what the vendor lists of it; return whether anything changed."""
    # A vendor's name longer than the column is cut, not a failure of the whole vendor.
    listed = (info.name[:NAME_LENGTH], info.metadata, info.can_switch, list(info.reading_names))
    values = dict(zip(FROM_THE_LIST, listed, strict=True))
    changed = any(getattr(device, field) != value for field, value in values.items())
    for field, value in values.items():
        setattr(device, field, value)
    return changed
