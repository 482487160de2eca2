import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...observations.models import Attribute, Status
from ...observations.tests.factories import AttributeFactory, StatusFactory
from ...vendors import registry
from ...vendors.base import (
    AuthenticationFailed,
    ConfigurationError,
    RateLimited,
    UnknownDevice,
    VendorUnavailable,
)
from ...vendors.simulator import simulated_cloud
from .. import delivery, jobs
from ..models import Command, JobRun
from .conftest import NOON, CountingVendor
from .factories import CommandFactory

pytestmark = pytest.mark.django_db


def test_refresh_device_stores_its_status_and_readings(simulated_devices):
    (device,) = simulated_devices(1)

    new_keys = jobs.refresh_device(device.pk)

    assert Status.objects.filter(device=device).count() == 1
    assert set(Attribute.objects.filter(device=device).values_list("name", flat=True)) == {
        "power",
        "temperature",
    }
    assert len(new_keys) == 3
    device.refresh_from_db()
    assert device.last_seen_at is not None


def test_refresh_twice_adds_no_rows(simulated_devices):
    devices = simulated_devices(3)
    device_ids = [d.pk for d in devices]

    first = jobs.refresh_devices(device_ids)
    second = jobs.refresh_devices(device_ids)

    assert len(first.new_keys) == 9
    assert second.new_keys == []
    assert first.refreshed == second.refreshed == device_ids
    assert Attribute.objects.count() + Status.objects.count() == 9


def test_a_batch_costs_one_call_for_its_statuses_and_readings(fake_vendor):
    fake_vendor.batch_size = 2
    devices = DeviceFactory.create_batch(5, vendor="fake")

    jobs.refresh_devices([d.pk for d in devices])

    # The calls are in flight together: their order is the threads'.
    assert sorted((method, len(ids)) for method, (ids,) in fake_vendor.calls) == [
        ("read_devices", 1),
        ("read_devices", 2),
        ("read_devices", 2),
    ]
    assert (Status.objects.count(), Attribute.objects.count()) == (5, 5)


def test_a_report_of_a_device_not_asked_for_is_dropped(fake_vendor, monkeypatch):
    asked, not_asked = DeviceFactory.create_batch(2, vendor="fake")
    answer = fake_vendor.read_devices
    monkeypatch.setattr(
        fake_vendor, "read_devices", lambda ids: answer([*ids, not_asked.vendor_device_id])
    )

    refreshed = jobs.refresh_devices([asked.pk])

    assert (refreshed.refreshed, refreshed.failed) == ([asked.pk], [])
    assert list(Status.objects.values_list("device", flat=True)) == [asked.pk]


def test_a_device_its_vendor_reports_offline_is_offline(fake_vendor):
    offline, online, unsaid = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.online = {offline.vendor_device_id: False, online.vendor_device_id: True}

    jobs.refresh_devices([offline.pk, online.pk, unsaid.pk])

    reported = dict(Device.objects.values_list("pk", "reported_online"))
    assert reported == {offline.pk: False, online.pk: True, unsaid.pk: None}
    assert list(Device.objects.offline()) == [offline]
    assert set(Device.objects.online()) == {online, unsaid}


def test_a_device_back_online_is_online_again(fake_vendor):
    device = DeviceFactory.create(vendor="fake", reported_online=False)
    fake_vendor.online = {device.vendor_device_id: True}

    jobs.refresh_device(device.pk)

    assert list(Device.objects.online()) == [device]


def test_a_call_that_fails_for_a_passing_reason_leaves_only_its_devices_unread(fake_vendor):
    fake_vendor.batch_size = 2
    down, also_down, *answering = DeviceFactory.create_batch(5, vendor="fake")
    fake_vendor.unreachable = {down.vendor_device_id}

    refreshed = jobs.refresh_devices([down.pk, also_down.pk, *(d.pk for d in answering)])

    assert refreshed.unread == [down.pk, also_down.pk]
    assert isinstance(refreshed.error, VendorUnavailable)
    assert refreshed.unread_summary() == "2 devices unread: VendorUnavailable: 503"
    assert refreshed.refreshed == [d.pk for d in answering]
    assert set(Status.objects.values_list("device", flat=True)) == {d.pk for d in answering}
    with pytest.raises(VendorUnavailable):
        refreshed.raise_unread()


def test_a_retry_reads_only_the_devices_left_unread(fake_vendor):
    fake_vendor.batch_size = 1
    flaky, *steady = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.flaky = {flaky.vendor_device_id: 2}
    delays: list[float] = []

    refreshed = jobs.refresh_with_retries([flaky.pk, *(d.pk for d in steady)], delays.append)

    assert (sorted(refreshed.refreshed), refreshed.unread) == (
        sorted([flaky.pk, *(d.pk for d in steady)]),
        [],
    )
    reads = [ids for method, (ids,) in fake_vendor.calls if method == "read_devices"]
    assert sorted(reads) == sorted(
        [(flaky.vendor_device_id,)] * 3 + [(device.vendor_device_id,) for device in steady]
    )
    assert len(delays) == 2


def test_devices_still_unread_after_the_last_retry_are_returned_unread(fake_vendor, settings):
    settings.VENDOR_MAX_RETRIES = 2
    down, up = DeviceFactory.create_batch(2, vendor="fake")
    fake_vendor.batch_size = 1
    fake_vendor.unreachable = {down.vendor_device_id}
    delays: list[float] = []

    refreshed = jobs.refresh_with_retries([down.pk, up.pk], delays.append)

    assert (refreshed.refreshed, refreshed.unread) == ([up.pk], [down.pk])
    assert len(delays) == settings.VENDOR_MAX_RETRIES


def test_a_retry_waits_as_long_as_the_longest_retry_after_asks():
    refreshed = jobs.Refreshed(
        [],
        [],
        [],
        [1, 2, 3],
        (VendorUnavailable("503"), RateLimited("429", 7), RateLimited("429", 3)),
    )

    assert refreshed.error is refreshed.errors[1]
    assert refreshed.unread_summary() == (
        "3 devices unread: RateLimited: 429 (2 calls); VendorUnavailable: 503"
    )


def test_calls_in_flight_reach_the_vendors_calls_at_once_and_never_more(settings, monkeypatch):
    settings.VENDORS = {
        **settings.VENDORS,
        "fake": {"CLIENT": "unused", "OPTIONS": {"max_calls_at_once": 3}},
    }
    vendor = CountingVendor(at_once=3)
    monkeypatch.setitem(registry._clients, "fake", vendor)
    devices = DeviceFactory.create_batch(9, vendor="fake")

    refreshed = jobs.refresh_devices([d.pk for d in devices])

    assert len(refreshed.refreshed) == 9
    assert vendor.most_at_once == 3


def test_the_simulated_vendors_calls_use_the_callers_database_connection(
    simulated_devices, settings
):
    # Made in this test's transaction: a thread with a connection of its own would not see
    # them, and the simulated vendor would answer that it knows no such device.
    devices = simulated_devices(6)
    settings.VENDORS = {
        **settings.VENDORS,
        "simulator": {**settings.VENDORS["simulator"], "OPTIONS": {"batch_size": 1}},
    }

    refreshed = jobs.refresh_devices([d.pk for d in devices])

    assert (len(refreshed.refreshed), refreshed.failed) == (6, [])
    assert simulated_cloud().calls.most_at_once() > 1


def test_a_device_the_vendor_refuses_costs_only_its_own_readings(simulated_devices, caplog):
    good = simulated_devices(2)
    stray = DeviceFactory.create(vendor="simulator", vendor_device_id="sim-gone")
    device_ids = [d.pk for d in [*good, stray]]

    with caplog.at_level(logging.ERROR):
        jobs.refresh_devices(device_ids)
        jobs.refresh_devices(device_ids)

    assert Status.objects.filter(device__in=good).count() == 2
    assert not Status.objects.filter(device=stray).exists()
    stray.refresh_from_db()
    assert "sim-gone" in stray.last_error
    # The same refusal twice is one alert, not one per run.
    assert [r.getMessage() for r in caplog.records if "sim-gone" in r.getMessage()] == [
        f"Vendor simulator refused device {stray}: {stray.last_error}"
    ]


def test_a_device_that_answers_again_loses_its_error(fake_vendor):
    device = DeviceFactory.create(vendor="fake", last_error="unknown device")

    jobs.refresh_device(device.pk)

    device.refresh_from_db()
    assert device.last_error == ""


def test_a_device_of_an_unconfigured_vendor_is_recorded_not_raised():
    device = DeviceFactory.build(vendor="nowhere")
    Device.objects.bulk_create([device])  # skips validation, as a stale row would

    refreshed = jobs.refresh_devices([device.pk])

    assert (refreshed.new_keys, refreshed.failed) == ([], [device.pk])

    device.refresh_from_db()
    assert "no client for vendor 'nowhere'" in device.last_error


def test_device_batches_keep_vendors_apart_and_hold_at_most_batch_devices(
    fake_vendor, simulated_devices, monkeypatch
):
    monkeypatch.setattr(jobs, "BATCH_DEVICES", 2)
    fakes = DeviceFactory.create_batch(3, vendor="fake")
    simulated = simulated_devices(2)

    batches = jobs.device_batches()

    assert sorted(batches) == sorted(
        [[fakes[0].pk, fakes[1].pk], [fakes[2].pk], [d.pk for d in simulated]]
    )


@pytest.mark.django_db(transaction=True)
def test_refresh_all_refreshes_every_device(simulated_devices, settings):
    settings.VENDORS = {
        **settings.VENDORS,
        "simulator": {**settings.VENDORS["simulator"], "OPTIONS": {"batch_size": 4}},
    }
    devices = simulated_devices(10)

    tally = jobs.refresh_all()

    assert (tally.outcome, tally.detail) == ("succeeded", "10 devices refreshed, 0 failed")
    assert Status.objects.values("device").distinct().count() == len(devices)
    assert Attribute.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_refresh_all_finishes_the_other_batches_when_one_fails(fake_vendor, monkeypatch):
    monkeypatch.setattr(jobs, "BATCH_DEVICES", 1)
    down, *_ = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.unreachable = {down.vendor_device_id}

    tally = jobs.refresh_all()

    assert tally.outcome == "failed"
    assert tally.detail == (
        "2 devices refreshed, 1 failed; 1 of 3 batches failed: VendorUnavailable: 503"
    )
    assert Status.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_device_the_vendor_refuses_counts_as_failed_but_does_not_fail_the_round(fake_vendor):
    devices = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.unknown = {devices[0].vendor_device_id}

    tally = jobs.refresh_all()

    assert (tally.outcome, tally.refreshed, tally.failed) == ("succeeded", 2, 1)
    assert Device.objects.get(pk=devices[0].pk).last_error.startswith("no device")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "error", [AuthenticationFailed("401 bad token"), ConfigurationError("URL not set")]
)
def test_an_error_of_the_clients_setup_fails_the_round_not_each_device(fake_vendor, error):
    DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.fail("read_devices", error)

    with pytest.raises(type(error)):
        jobs.refresh_all()

    assert len(fake_vendor.calls) == 1
    assert not Device.objects.exclude(last_error="").exists()


def test_a_database_error_for_one_device_keeps_the_other_devices_readings(fake_vendor, caplog):
    good, bad, other = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.undated = {bad.vendor_device_id}

    with caplog.at_level(logging.ERROR):
        refreshed = jobs.refresh_devices([good.pk, bad.pk, other.pk])

    assert (refreshed.refreshed, refreshed.failed) == ([good.pk, other.pk], [bad.pk])
    assert Attribute.objects.filter(device__in=[good, other]).count() == 2
    assert Status.objects.filter(device__in=[good, other]).count() == 2
    assert not Status.objects.filter(device=bad).exists()
    bad.refresh_from_db()
    assert bad.last_error.startswith("IntegrityError: ")
    assert bad.last_seen_at is None
    assert [r.getMessage() for r in caplog.records] == [
        f"Readings from fake for device {bad} could not be stored: {bad.last_error}"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_device_deleted_during_its_refresh_loses_its_readings_and_nothing_else(fake_vendor):
    kept, deleted = DeviceFactory.create_batch(2, vendor="fake")
    read_devices = fake_vendor.read_devices

    def delete_while_reading(vendor_device_ids):
        Device.objects.filter(pk=deleted.pk).delete()
        return read_devices(vendor_device_ids)

    fake_vendor.read_devices = delete_while_reading

    refreshed = jobs.refresh_devices([kept.pk, deleted.pk])

    assert (refreshed.refreshed, refreshed.failed) == ([kept.pk], [])
    assert Status.objects.get().device_id == kept.pk
    assert Attribute.objects.get().device_id == kept.pk


def test_set_status_confirms_the_command_and_records_the_status(simulated_devices):
    (device,) = simulated_devices(1)
    command = CommandFactory.create(device=device, is_on=False)

    jobs.set_status(command.pk)

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert command.vendor_answer["is_on"] is False
    assert command.sent_at is not None and command.finished_at is not None
    assert device.statuses.latest().is_on is False


@pytest.mark.django_db(transaction=True)
def test_a_command_whose_device_is_deleted_while_it_is_sent_ends_without_an_error(fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    set_status = fake_vendor.set_status

    def delete_while_switching(vendor_device_id, is_on):
        Device.objects.filter(pk=command.device_id).delete()
        return set_status(vendor_device_id, is_on)

    fake_vendor.set_status = delete_while_switching

    assert jobs.set_status(command.pk) == command.pk
    assert not Status.objects.exists() and not Command.objects.exists()


def test_a_settled_command_is_not_sent_again(fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))

    jobs.set_status(command.pk)
    jobs.set_status(command.pk)

    assert [method for method, _ in fake_vendor.calls] == ["set_status"]


def test_a_permanent_error_fails_the_command(fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    fake_vendor.fail("set_status", UnknownDevice("no such device"))

    with pytest.raises(UnknownDevice):
        jobs.set_status(command.pk)

    command.refresh_from_db()
    assert (command.state, command.error) == (Command.State.FAILED, "no such device")


def test_a_transient_error_leaves_the_command_claimed_until_it_is_released(fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    fake_vendor.fail("set_status", VendorUnavailable("503"))

    with pytest.raises(VendorUnavailable):
        jobs.set_status(command.pk)
    jobs.set_status(command.pk)  # another attempt while the first holds it: nothing sent

    command.refresh_from_db()
    assert command.state == Command.State.SENT
    assert len(fake_vendor.calls) == 1
    delivery.release(command.pk, retry_in=0)
    jobs.set_status(command.pk)
    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED


def test_fail_command_leaves_a_settled_command_alone(fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    jobs.set_status(command.pk)

    jobs.fail_command(command.pk, "gave up")

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED


def test_prune_deletes_only_what_is_older_than_the_retention(settings):
    settings.OBSERVATION_RETENTION_DAYS = 30
    now = timezone.now()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    device = DeviceFactory.create()
    AttributeFactory.create(device=device, valid_at=old)
    kept = AttributeFactory.create(device=device, valid_at=recent)
    StatusFactory.create(device=device, valid_at=old)
    JobRun.objects.create(name="refresh_all", started_at=old)

    pruned = jobs.prune_observations()

    if connection.vendor == "postgresql":
        # The partitions of the days past the window, the old readings' among them, are
        # dropped whole, their rows uncounted; the heartbeat is deleted.
        assert pruned.rows == 1 and pruned.partitions >= 2
    else:
        assert (pruned.rows, pruned.partitions) == (3, 0)
    assert list(Attribute.objects.all()) == [kept]
    assert not Status.objects.exists() and not JobRun.objects.exists()


def test_readings_keep_the_vendors_timestamp(fake_vendor):
    device = DeviceFactory.create(vendor="fake")

    jobs.refresh_device(device.pk)

    assert device.attributes.get().valid_at == NOON
