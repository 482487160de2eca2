"""Tasks delivered through a real Celery worker (in a thread, on the in-memory broker)."""

import logging
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker import state
from django.test import override_settings

from config import celery_app

from ...devices.tests.factories import DeviceFactory
from ...observations.models import Status
from ...vendors.base import RateLimited, UnknownDevice, VendorTimeout, VendorUnavailable
from ..models import Command, JobRun
from ..tasks import refresh_all, refresh_devices, retry_delay, send_command
from .factories import CommandFactory


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@celery_app.task(name="tests.wake_up")
def wake_up():
    """Nothing: a message that wakes a worker's loop."""


def stop_at_once():
    """Tell the worker to stop, and wake it so that it does at once.

    Its loop waits up to 2 s for a message before it looks at the stop flag, then waits once
    more; without a message, a worker takes 4 s to stop. Two messages that do nothing end both
    waits.
    """
    state.should_terminate = 0
    for _ in range(2):
        wake_up.apply_async(queue="monitor")


@pytest.fixture(scope="module")
def running_worker():
    """One worker for the module: starting one takes a second."""
    celery_app.conf.task_always_eager = False
    # Retries within a test's patience; the policy is the same.
    quick_retries = override_settings(VENDOR_RETRY_BASE_DELAY=0.01, VENDOR_RETRY_MAX_DELAY=0.05)
    worker = start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=["monitor", "control"]
    )
    try:
        with quick_retries, worker:
            yield
            stop_at_once()
    finally:
        celery_app.conf.task_always_eager = True


@pytest.fixture
def worker(running_worker, transactional_db):
    """A worker thread; it uses a database connection of its own, hence transactional_db."""


def test_retry_delay_doubles_up_to_the_cap_with_full_jitter(settings):
    settings.VENDOR_RETRY_BASE_DELAY = 2
    settings.VENDOR_RETRY_MAX_DELAY = 60
    # Retry n waits from 0 to 2 * 2**n seconds, never more than 60.
    ceilings = [2, 4, 8, 16, 32, 60, 60]

    for retries, ceiling in enumerate(ceilings):
        delays = [retry_delay(retries, None) for _ in range(200)]
        # That none of 200 draws lands in the top quarter, or the bottom one: 1 in 10**24.
        assert 0.75 * ceiling < max(delays) <= ceiling, retries
        assert 0 <= min(delays) < 0.25 * ceiling, retries


def test_retry_delay_waits_at_least_what_a_429_asks_but_never_past_the_cap(settings):
    settings.VENDOR_RETRY_MAX_DELAY = 60

    assert retry_delay(0, retry_after=30) >= 30
    assert retry_delay(0, retry_after=600) == 60


def test_commands_and_refreshes_go_to_their_own_queues():
    routes = celery_app.amqp.router

    assert routes.route({}, send_command.name)["queue"].name == "control"
    assert routes.route({}, refresh_devices.name)["queue"].name == "monitor"


def test_a_command_is_sent_by_a_worker_and_confirmed(worker, fake_vendor):
    command = CommandFactory(device=DeviceFactory(vendor="fake"), is_on=False)

    send_command.delay(command.pk)

    assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)
    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert fake_vendor.calls == [("set_status", (command.device.vendor_device_id, False))]


def test_refresh_all_fans_out_to_every_device(worker, fake_vendor):
    fake_vendor.batch_size = 2
    devices = DeviceFactory.create_batch(5, vendor="fake")

    refresh_all.delay()

    assert wait_until(lambda: Status.objects.count() == len(devices))
    assert JobRun.objects.get().detail == "queued 3 batches, 5 devices"


def test_transient_errors_are_retried_until_the_vendor_answers(worker, fake_vendor):
    device = DeviceFactory(vendor="fake")
    fake_vendor.fail(
        "read_statuses", VendorUnavailable("503"), VendorTimeout("slow"), RateLimited("429", 0.01)
    )

    refresh_devices.delay([device.pk])

    assert wait_until(lambda: Status.objects.filter(device=device).exists())
    assert [method for method, _ in fake_vendor.calls].count("read_statuses") == 4


def test_a_task_gives_up_after_its_last_retry_and_fails_the_command(worker, fake_vendor, caplog):
    command = CommandFactory(device=DeviceFactory(vendor="fake"))
    fake_vendor.fail("set_status", *[VendorUnavailable("503")] * 10)

    with caplog.at_level(logging.ERROR):
        send_command.delay(command.pk)
        assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)

    command.refresh_from_db()
    assert (command.state, command.error) == (Command.State.FAILED, "503")
    assert len(fake_vendor.calls) == 1 + send_command.max_retries
    assert len([r for r in caplog.records if "gave up" in r.getMessage()]) == 1


def test_a_permanent_error_is_not_retried_and_is_logged_once(worker, fake_vendor, caplog):
    command = CommandFactory(device=DeviceFactory(vendor="fake"))
    fake_vendor.fail("set_status", UnknownDevice("no such device"))

    with caplog.at_level(logging.ERROR):
        send_command.delay(command.pk)
        assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)

    assert len(fake_vendor.calls) == 1
    assert Command.objects.get(pk=command.pk).error == "no such device"
    assert len([r for r in caplog.records if "no such device" in r.getMessage()]) == 1
