from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ...interactions.models import JobRun
from ...interactions.schedule import periodic_job
from ...interactions.tests.conftest import FakeVendor
from ...observations.models import Attribute
from ...observations.tests.factories import AttributeFactory
from ...vendors import registry
from ...vendors.base import DeviceInfo, VendorUnavailable
from ..models import Device
from ..sync import Synced, SyncFailed, import_devices, sync_devices
from .factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
PLUG = DeviceInfo("plug-1", "Kitchen plug", {"model": "P1"})
SENSOR = DeviceInfo(
    "sensor-1", "Cellar sensor", {"model": "S2"}, can_switch=False, reading_names=("humidity",)
)


class ListingVendor(FakeVendor):
    """A vendor whose account lists `listed`, or fails with `error`."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[DeviceInfo] = []
        self.error: Exception | None = None

    def list_devices(self) -> list[DeviceInfo]:
        self.calls.append(("list_devices", ()))
        if self.error is not None:
            raise self.error
        return list(self.listed)


@pytest.fixture
def vendors(settings, monkeypatch):
    """Two vendors, "fake" and "other", and no other: what each lists is up to the test."""
    clients = {"fake": ListingVendor(), "other": ListingVendor()}
    settings.VENDORS = {name: {"CLIENT": "unused"} for name in clients}
    for name, client in clients.items():
        monkeypatch.setitem(registry._clients, name, client)
    return clients


def fake_devices() -> dict[str, Device]:
    return {device.vendor_device_id: device for device in Device.objects.filter(vendor="fake")}


def counts(synced: Synced) -> tuple[int, int, int, int]:
    return (
        synced.total("created"),
        synced.total("updated"),
        synced.total("unlisted"),
        synced.total("relisted"),
    )


def test_sync_creates_the_devices_a_vendor_lists_with_their_capabilities(vendors):
    vendors["fake"].listed = [PLUG, SENSOR]

    synced = sync_devices("fake")

    assert counts(synced) == (2, 0, 0, 0)
    devices = fake_devices()
    plug, sensor = devices["plug-1"], devices["sensor-1"]
    assert (plug.name, plug.metadata, plug.can_switch, plug.reading_names) == (
        "Kitchen plug",
        {"model": "P1"},
        True,
        [],
    )
    assert (sensor.name, sensor.can_switch, sensor.reading_names) == (
        "Cellar sensor",
        False,
        ["humidity"],
    )
    assert plug.owner is None and plug.unlisted_at is None


def test_sync_updates_what_the_vendor_says_and_keeps_what_the_project_says(vendors):
    owner = UserFactory.create()
    known = DeviceFactory.create(
        vendor="fake", vendor_device_id="plug-1", name="Old name", location="Attic", owner=owner
    )
    untouched = DeviceFactory.create(vendor="fake", vendor_device_id="sensor-1", name="Same")
    vendors["fake"].listed = [
        DeviceInfo("plug-1", "New name", {"firmware": "2"}, can_switch=False, reading_names=("t",)),
        DeviceInfo("sensor-1", "Same", untouched.metadata),
    ]

    synced = sync_devices("fake")

    assert counts(synced) == (0, 1, 0, 0)
    known.refresh_from_db()
    assert (known.name, known.metadata, known.can_switch, known.reading_names) == (
        "New name",
        {"firmware": "2"},
        False,
        ["t"],
    )
    assert (known.location, known.owner) == ("Attic", owner)
    assert Device.objects.count() == 2


def test_a_device_no_longer_listed_is_flagged_and_kept_with_its_readings(vendors):
    gone = DeviceFactory.create(vendor="fake", vendor_device_id="plug-9")
    AttributeFactory.create(device=gone, valid_at=NOON)
    vendors["fake"].listed = [PLUG]

    synced = sync_devices("fake")

    assert counts(synced) == (1, 0, 1, 0)
    gone.refresh_from_db()
    assert gone.unlisted_at is not None
    assert Attribute.objects.filter(device=gone).count() == 1
    # Flagged once: the next sync leaves the moment it stopped being listed as it was.
    assert counts(sync_devices("fake")) == (0, 0, 0, 0)
    assert Device.objects.get(pk=gone.pk).unlisted_at == gone.unlisted_at


def test_a_device_listed_again_loses_its_flag(vendors):
    vendors["fake"].listed = [PLUG]
    sync_devices("fake")
    vendors["fake"].listed = []
    sync_devices("fake")
    assert fake_devices()["plug-1"].unlisted_at is not None

    vendors["fake"].listed = [PLUG]
    synced = sync_devices("fake")

    assert counts(synced) == (0, 0, 0, 1)
    assert fake_devices()["plug-1"].unlisted_at is None


def test_syncing_twice_changes_nothing_the_second_time(vendors):
    vendors["fake"].listed = [PLUG, SENSOR]
    sync_devices("fake")
    before = list(Device.objects.values().order_by("pk"))

    assert counts(sync_devices("fake")) == (0, 0, 0, 0)
    assert list(Device.objects.values().order_by("pk")) == before


def test_a_dry_run_says_what_it_would_do_and_writes_nothing(vendors):
    known = DeviceFactory.create(vendor="fake", vendor_device_id="plug-1", name="Old name")
    DeviceFactory.create(vendor="fake", vendor_device_id="plug-9")
    vendors["fake"].listed = [PLUG, SENSOR]
    before = list(Device.objects.values().order_by("pk"))

    synced = sync_devices("fake", dry_run=True)

    assert counts(synced) == (1, 1, 1, 0)
    assert str(synced).endswith("(dry run: nothing written)")
    assert list(Device.objects.values().order_by("pk")) == before
    known.refresh_from_db()
    assert known.name == "Old name"


def test_the_devices_a_sync_creates_go_to_its_owner(vendors):
    owner = UserFactory.create()
    kept = DeviceFactory.create(vendor="fake", vendor_device_id="plug-1", owner=None)
    vendors["fake"].listed = [PLUG, SENSOR]

    sync_devices("fake", owner=owner)

    devices = fake_devices()
    assert devices["sensor-1"].owner == owner
    assert devices["plug-1"].owner is None and devices["plug-1"].pk == kept.pk


def test_a_vendor_that_fails_fails_the_sync_and_keeps_its_devices_while_others_sync(vendors):
    DeviceFactory.create(vendor="fake", vendor_device_id="plug-9", name="Kept")
    vendors["fake"].error = VendorUnavailable("503 Service Unavailable")
    vendors["other"].listed = [PLUG]

    with pytest.raises(SyncFailed) as failed:
        sync_devices()

    assert str(failed.value) == (
        "fake: failed, nothing changed: 503 Service Unavailable; "
        "other: 1 created, 0 updated, 0 unlisted, 0 relisted"
    )
    (kept,) = fake_devices().values()
    assert (kept.name, kept.unlisted_at) == ("Kept", None)
    assert Device.objects.filter(vendor="other").count() == 1


def test_a_sync_takes_a_handful_of_statements_whatever_the_number_of_devices(
    vendors, django_assert_max_num_queries
):
    DeviceFactory.create_batch(30, vendor="fake")
    vendors["fake"].listed = [
        DeviceInfo(f"new-{number}", f"New {number}", {}) for number in range(30)
    ] + [DeviceInfo(device.vendor_device_id, "Renamed", {}) for device in Device.objects.all()[:10]]

    with django_assert_max_num_queries(8):
        synced = sync_devices("fake")

    assert counts(synced) == (30, 10, 20, 0)


def test_import_cuts_a_name_too_long_for_the_column(vendors):
    import_devices("fake", [DeviceInfo("plug-1", "x" * 300, {})])

    assert fake_devices()["plug-1"].name == "x" * 100


def test_the_schedule_syncs_every_vendor_at_the_interval_set(settings, vendors):
    settings.SYNC_DEVICES_INTERVAL_SECONDS = 3600
    vendors["fake"].listed = [PLUG]
    vendors["other"].listed = [SENSOR]
    job = periodic_job("sync_devices")

    job.run()

    assert job.every.total_seconds() == 3600
    assert Device.objects.filter(vendor__in=["fake", "other"]).count() == 2


# The command


def test_the_command_syncs_and_says_what_it_did(vendors, capsys):
    vendors["fake"].listed = [PLUG]

    call_command("sync_devices")

    assert capsys.readouterr().out == (
        "sync_devices: fake: 1 created, 0 updated, 0 unlisted, 0 relisted; "
        "other: 0 created, 0 updated, 0 unlisted, 0 relisted\n"
    )
    run = JobRun.objects.get(name="sync_devices")
    assert run.outcome == JobRun.Outcome.SUCCEEDED


def test_the_command_fails_loudly_when_a_vendor_fails(vendors):
    vendors["other"].error = VendorUnavailable("503 Service Unavailable")
    vendors["fake"].listed = [PLUG]

    with pytest.raises(CommandError) as failed:
        call_command("sync_devices")

    assert str(failed.value) == (
        "sync_devices failed: fake: 1 created, 0 updated, 0 unlisted, 0 relisted; "
        "other: failed, nothing changed: 503 Service Unavailable"
    )
    run = JobRun.objects.get(name="sync_devices")
    assert run.outcome == JobRun.Outcome.FAILED
    assert run.detail.startswith("SyncFailed: fake: 1 created")
    assert fake_devices().keys() == {"plug-1"}


def test_the_command_syncs_one_vendor_for_an_owner_in_a_dry_run(vendors, capsys):
    ada = UserFactory.create(username="ada")
    vendors["fake"].listed = [PLUG]

    call_command("sync_devices", "--vendor", "fake", "--owner", "ada", "--dry-run")

    assert capsys.readouterr().out == (
        "sync_devices: fake: 1 created, 0 updated, 0 unlisted, 0 relisted "
        "(dry run: nothing written)\n"
    )
    assert not Device.objects.exists() and not JobRun.objects.exists()
    assert vendors["other"].calls == []

    call_command("sync_devices", "--vendor", "fake", "--owner", "ada")

    assert fake_devices()["plug-1"].owner == ada


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--vendor", "nope"], "Unknown vendor 'nope': choose one of fake, other."),
        (["--owner", "nobody"], "No user is called 'nobody'."),
    ],
)
def test_the_command_refuses_an_unknown_vendor_or_owner_in_one_line(vendors, arguments, error):
    with pytest.raises(CommandError) as refused:
        call_command("sync_devices", *arguments)

    assert str(refused.value) == error
    assert vendors["fake"].calls == [] and not JobRun.objects.exists()


# The admin


def import_action(admin_client, *devices):
    return admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "import_devices", "_selected_action": [device.pk for device in devices]},
        follow=True,
    )


def test_the_admin_imports_the_devices_of_the_selected_devices_vendors(admin_client, vendors):
    selected = DeviceFactory.create(vendor="fake", vendor_device_id="plug-1")
    vendors["fake"].listed = [PLUG, SENSOR]
    vendors["other"].listed = [PLUG]

    response = import_action(admin_client, selected)

    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Imported: fake: 1 created, 1 updated, 0 unlisted, 0 relisted."]
    assert fake_devices().keys() == {"plug-1", "sensor-1"}
    assert vendors["other"].calls == []


def test_the_admin_says_when_an_import_failed(admin_client, vendors):
    selected = DeviceFactory.create(vendor="fake")
    vendors["fake"].error = VendorUnavailable("503 Service Unavailable")

    response = import_action(admin_client, selected)

    (message,) = response.context["messages"]
    assert str(message) == "Import failed: fake: failed, nothing changed: 503 Service Unavailable"
    assert message.level_tag == "error"
{%- if cookiecutter.scheduler == "celery-beat" %}


def test_the_task_records_its_run_and_fails_when_a_vendor_fails(vendors):
    from ...interactions.tasks import sync_devices as sync_task

    vendors["fake"].listed = [PLUG]
    assert sync_task() == 1
    vendors["other"].error = VendorUnavailable("503 Service Unavailable")

    with pytest.raises(SyncFailed):
        sync_task()

    outcomes = list(JobRun.objects.order_by("started_at").values_list("outcome", flat=True))
    assert outcomes == [JobRun.Outcome.SUCCEEDED, JobRun.Outcome.FAILED]
{%- endif %}
