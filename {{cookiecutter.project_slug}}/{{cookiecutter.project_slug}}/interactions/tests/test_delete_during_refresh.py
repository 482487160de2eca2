"""A device deleted while it is refreshed, each side in a thread with a database connection of
its own, held at the moment that matters.

On PostgreSQL the two once deadlocked: the delete removed the device's readings and latest
rows while the refresh held some of them and wanted the others. On SQLite, which locks the
whole database, they can only wait for each other; the tests run there too, and prove less.
"""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models.signals import pre_delete

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...observations.models import Attribute, LatestAttribute, LatestStatus, Status
from ...observations.tests.factories import AttributeFactory, StatusFactory
from .. import jobs
from .conftest import NOON

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough for the other side to reach the lock it must wait for.
HEAD_START = 0.5


class Gate:
    """Where one side stops until the test lets it go on."""

    def __init__(self):
        self.reached = threading.Event()
        self.opened = threading.Event()

    def stop_here(self) -> None:
        self.reached.set()
        assert self.opened.wait(30), "the test never opened the gate"


def in_thread(pool: ThreadPoolExecutor, function, *args) -> Future:
    """Run `function` in a pool thread with a connection of its own; the future gives its
    result and how long it took."""

    def timed():
        started = time.monotonic()
        try:
            return function(*args), time.monotonic() - started
        finally:
            connections.close_all()

    return pool.submit(timed)


@pytest.fixture
def devices(fake_vendor):
    doomed, kept = DeviceFactory.create_batch(2, vendor="fake")
    # Earlier readings, so that the delete has latest rows to remove, as it would in production.
    AttributeFactory(device=doomed, valid_at=NOON - timedelta(hours=1))
    StatusFactory(device=doomed, valid_at=NOON - timedelta(hours=1))
    return doomed, kept


def assert_gone_with_its_readings(device: Device) -> None:
    assert not Device.objects.filter(pk=device.pk).exists()
    for model in (Attribute, Status, LatestAttribute, LatestStatus):
        assert not model.objects.filter(device_id=device.pk).exists(), model.__name__


def delete_one(device: Device) -> None:
    """As the API and the admin's delete page do."""
    Device.objects.get(pk=device.pk).delete()


def delete_selected(device: Device) -> None:
    """As the admin's "delete selected devices" action does."""
    Device.objects.filter(pk__in=[device.pk]).delete()


@pytest.mark.parametrize("delete_device", [delete_one, delete_selected])
def test_a_delete_during_a_refresh_waits_for_it_then_deletes_everything(
    devices, monkeypatch, delete_device
):
    doomed, kept = devices
    gate = Gate()
    store_attributes = jobs.store_attributes

    def store_attributes_after_the_gate(rows):
        # The refresh has locked its devices and stored their statuses (and latest statuses).
        gate.stop_here()
        return store_attributes(rows)

    monkeypatch.setattr(jobs, "store_attributes", store_attributes_after_the_gate)

    with ThreadPoolExecutor(2) as pool:
        refresh = in_thread(pool, jobs.refresh_devices, [doomed.pk, kept.pk])
        assert gate.reached.wait(30)
        delete = in_thread(pool, delete_device, doomed)
        time.sleep(HEAD_START)
        gate.opened.set()
        refreshed, _ = refresh.result(timeout=60)
        _, delete_took = delete.result(timeout=60)

    assert refreshed.refreshed == [doomed.pk, kept.pk]
    assert delete_took >= HEAD_START  # it waited for the refresh to commit
    assert_gone_with_its_readings(doomed)
    assert Attribute.objects.filter(device=kept).count() == 1
    assert LatestStatus.objects.filter(device=kept).count() == 1


def test_a_refresh_during_a_delete_waits_for_it_and_drops_the_deleted_devices_readings(devices):
    doomed, kept = devices
    gate = Gate()

    def stop_the_delete(sender, instance, **kwargs):
        # The delete has locked the device; it deletes what hangs off it next.
        if instance.pk == doomed.pk:
            gate.stop_here()

    pre_delete.connect(stop_the_delete, sender=Device)
    try:
        with ThreadPoolExecutor(2) as pool:
            delete = in_thread(pool, delete_one, doomed)
            assert gate.reached.wait(30)
            refresh = in_thread(pool, jobs.refresh_devices, [doomed.pk, kept.pk])
            time.sleep(HEAD_START)
            gate.opened.set()
            delete.result(timeout=60)
            refreshed, refresh_took = refresh.result(timeout=60)
    finally:
        pre_delete.disconnect(stop_the_delete, sender=Device)

    assert (refreshed.refreshed, refreshed.failed) == ([kept.pk], [])
    assert refresh_took >= HEAD_START
    assert_gone_with_its_readings(doomed)
    assert Status.objects.filter(device=kept).count() == 1
