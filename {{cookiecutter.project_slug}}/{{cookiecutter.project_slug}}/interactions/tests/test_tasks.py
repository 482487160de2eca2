"""Tasks delivered through a real Celery worker (in a thread, on the in-memory broker)."""

import logging
import threading
import time
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
import respx
from celery.contrib.testing.worker import start_worker
from celery.worker import state
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone

from config import celery_app
from config.celery import schedule_periodic_jobs

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...observations.models import Status
from ...vendors import registry
from ...vendors.base import RateLimited, UnknownDevice, VendorTimeout, VendorUnavailable
from ...vendors.tests.test_http import BASE_URL as ERRORS_IN_BODY_URL
from ...vendors.tests.test_http import ErrorsInBodyCloud
from .. import batches, delivery
from ..health import check_health
from ..models import Command, JobRun, RefreshBatch
from ..retries import retry_delay
from ..schedule import periodic_job
from ..tasks import refresh_all, refresh_batch, refresh_devices, send_command
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


@celery_app.task(name="tests.occupy")
def occupy(seconds: float):
    """Keep the worker busy, as a long queue would."""
    time.sleep(seconds)


reached = threading.Event()


@celery_app.task(name="tests.reach")
def reach():
    """Say that the worker got this far in its queue."""
    reached.set()


def settled(run_id: int) -> JobRun:
    """The round once its record is settled."""
    assert wait_until(lambda: not JobRun.objects.filter(pk=run_id, outcome="running").exists())
    return JobRun.objects.get(pk=run_id)


def settled_round() -> JobRun:
    """The one round of refresh_all a worker started, once settled."""
    assert wait_until(JobRun.objects.filter(name="refresh_all").exists)
    return settled(JobRun.objects.get(name="refresh_all").pk)


def record(run: JobRun) -> tuple:
    return (run.outcome, run.detail, run.devices_refreshed, run.devices_failed)


def stop_at_once():
    """Tell the worker to stop, and wake it so that it does at once.

    Its loop waits up to 2 s for a message before it looks at the stop flag, then waits once
    more; without a message, a worker takes 4 s to stop. Two messages that do nothing end both
    waits.
    """
    # celery-types declares it None; Celery sets it to the exit code to stop with.
    cast(Any, state).should_terminate = 0
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


@pytest.fixture
def scheduled_firmware_job(firmware_job):
    """The app set up again with the job added, as a worker or beat sets it up as it starts."""
    schedule_periodic_jobs(celery_app)
    yield firmware_job
    celery_app.tasks.unregister(f"interactions.{firmware_job.name}")
    del celery_app.conf.beat_schedule[firmware_job.name]


def test_a_job_added_to_the_schedule_gets_a_task_and_a_beat_entry(db, scheduled_firmware_job):
    entry = celery_app.conf.beat_schedule["pull_firmware"]
    task = celery_app.tasks[entry["task"]]

    assert task.name == "interactions.pull_firmware"
    assert entry["schedule"].run_every == timedelta(hours=6)
    assert entry["options"]["expires"] == timedelta(hours=6).total_seconds()
    run_id = task.apply().get()  # as a worker runs it
    assert record(JobRun.objects.get(pk=run_id)) == (
        "succeeded",
        "3 devices run the latest firmware",
        None,
        None,
    )


def test_a_command_is_sent_by_a_worker_and_confirmed(worker, fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=False)

    send_command.delay(command.pk)

    assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)
    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert fake_vendor.calls == [("set_status", (command.device.vendor_device_id, False))]


def test_a_round_whose_batches_all_succeed_records_succeeded_with_the_counts(worker, fake_vendor):
    fake_vendor.batch_size = 2
    devices = DeviceFactory.create_batch(5, vendor="fake")

    refresh_all.delay()

    run = settled_round()

    assert record(run) == ("succeeded", "5 devices refreshed, 0 failed", 5, 0)
    assert Status.objects.count() == len(devices)
    assert not RefreshBatch.objects.exists()


def test_in_process_a_round_is_settled_when_refresh_all_returns(db, troubled_round):
    refresh_all.delay()  # no broker: the batches run as they are sent, without retries

    scenario = troubled_round
    assert record(JobRun.objects.get()) == (
        scenario.outcome,
        scenario.detail,
        scenario.refreshed,
        scenario.failed,
    )


def test_a_round_with_a_batch_that_gives_up_records_failed_with_the_counts(
    worker, troubled_round, fake_vendor
):
    refresh_all.delay()

    run = settled_round()

    scenario = troubled_round
    assert record(run) == (scenario.outcome, scenario.detail, scenario.refreshed, scenario.failed)
    # The call whose vendor is down was tried once and retried to the limit; the others, once.
    down = (scenario.devices[0].vendor_device_id, scenario.devices[1].vendor_device_id)
    assert fake_vendor.calls.count(("read_devices", (down,))) == 1 + refresh_batch.max_retries
    answering = (scenario.devices[2].vendor_device_id, scenario.devices[3].vendor_device_id)
    assert fake_vendor.calls.count(("read_devices", (answering,))) == 1


def test_a_batch_is_retried_with_only_the_devices_it_left_unread(worker, fake_vendor):
    fake_vendor.batch_size = 1
    flaky, *steady = DeviceFactory.create_batch(3, vendor="fake")
    fake_vendor.flaky = {flaky.vendor_device_id: 2}

    refresh_all.delay()

    run = settled_round()
    assert record(run) == ("succeeded", "3 devices refreshed, 0 failed", 3, 0)
    reads = [ids for method, (ids,) in fake_vendor.calls if method == "read_devices"]
    assert sorted(reads) == sorted(
        [(flaky.vendor_device_id,)] * 3 + [(device.vendor_device_id,) for device in steady]
    )


def test_a_batch_delivered_again_after_it_recorded_does_not_count_twice(worker, fake_vendor):
    first, second = DeviceFactory.create_batch(2, vendor="fake")
    run, (batch, other) = batches.start_round("refresh_all", [[first.pk], [second.pk]])
    reached.clear()

    # acks_late: a worker that dies before it acknowledges a batch has it run again, even
    # after its round is over.
    for batch_id in (batch, batch, other, batch):
        refresh_batch.delay(batch_id)
    reach.delay()

    assert reached.wait(20)
    assert record(settled(run.pk)) == ("succeeded", "2 devices refreshed, 0 failed", 2, 0)
    assert [args for method, args in fake_vendor.calls if method == "read_devices"] == [
        ((first.vendor_device_id,),),
        ((second.vendor_device_id,),),
    ]


def test_a_late_outcome_for_a_batch_already_recorded_is_ignored(db):
    first, second = DeviceFactory.create_batch(2)
    run, (batch, other) = batches.start_round("refresh_all", [[first.pk], [second.pk]])

    assert batches.record_batch(batch, refreshed=1, failed=0)
    # Its copy, delivered again because the worker died before acknowledging it, expired.
    assert not batches.fail_batch(batch, "expired: not done when the next round was due")
    assert batches.record_batch(other, refreshed=1, failed=0)

    assert record(JobRun.objects.get(pk=run.pk)) == (
        "succeeded",
        "2 devices refreshed, 0 failed",
        2,
        0,
    )


def test_an_expired_batch_counts_as_failed_and_calls_no_vendor(worker, fake_vendor):
    device = DeviceFactory.create(vendor="fake")
    run, (batch,) = batches.start_round("refresh_all", [[device.pk]])

    refresh_batch.apply_async((batch,), expires=timezone.now() - timedelta(seconds=1))

    assert record(settled(run.pk)) == (
        "failed",
        "0 devices refreshed, 1 failed; "
        "1 of 1 batches failed: expired: not done when the next round was due",
        0,
        1,
    )
    assert fake_vendor.calls == []


def test_a_rounds_batches_expire_when_the_next_round_is_due(worker, fake_vendor):
    fake_vendor.batch_size = 1
    DeviceFactory.create_batch(3, vendor="fake")

    # The worker starts the round at once, then is kept busy past its end.
    refresh_all.apply_async(expires=timezone.now() + timedelta(seconds=1))
    occupy.delay(1.5)

    run = settled_round()
    assert (run.outcome, run.devices_refreshed, run.devices_failed) == ("failed", 0, 3)
    assert fake_vendor.calls == []


def test_a_batch_gives_up_at_once_when_its_retry_would_come_after_its_round(
    worker, fake_vendor, settings
):
    settings.VENDOR_RETRY_MAX_DELAY = 30
    device = DeviceFactory.create(vendor="fake")
    fake_vendor.fail("read_devices", RateLimited("429", retry_after=20))
    run, (batch,) = batches.start_round("refresh_all", [[device.pk]])

    refresh_batch.apply_async((batch,), expires=timezone.now() + timedelta(seconds=10))

    assert settled(run.pk).detail.endswith("1 of 1 batches failed: RateLimited: 429")
    assert len(fake_vendor.calls) == 1


def test_a_batch_that_crashes_fails_in_its_round(worker, fake_vendor, monkeypatch):
    device = DeviceFactory.create(vendor="fake")
    run, (batch,) = batches.start_round("refresh_all", [[device.pk]])
    monkeypatch.setattr(batches.jobs, "refresh_devices", lambda device_ids: 1 / 0)

    refresh_batch.delay(batch)

    assert settled(run.pk).detail.endswith(
        "1 of 1 batches failed: ZeroDivisionError: division by zero"
    )


def test_a_database_error_that_passes_is_retried(worker, fake_vendor):
    device = DeviceFactory.create(vendor="fake")
    fake_vendor.fail("read_devices", OperationalError("deadlock detected"))
    run, (batch,) = batches.start_round("refresh_all", [[device.pk]])

    refresh_batch.delay(batch)

    assert record(settled(run.pk)) == ("succeeded", "1 device refreshed, 0 failed", 1, 0)


def test_a_round_whose_batches_never_finish_is_settled_failed_by_the_health_check(db):
    devices = DeviceFactory.create_batch(3)
    run, batch_ids = batches.start_round(
        "refresh_all", [[devices[0].pk, devices[1].pk], [devices[2].pk]]
    )
    batches.record_batch(batch_ids[1], refreshed=1, failed=0)
    lost_after = periodic_job("refresh_all").lost_after

    check_health(run.started_at + lost_after - timedelta(seconds=1))
    assert JobRun.objects.get(pk=run.pk).outcome == "running"
    check_health(run.started_at + lost_after + timedelta(seconds=1))

    assert record(JobRun.objects.get(pk=run.pk)) == (
        "failed",
        "1 device refreshed, 2 failed; 1 of 2 batches failed: "
        f"not finished within {lost_after.total_seconds():g} s: expired or lost",
        1,
        2,
    )
    assert not RefreshBatch.objects.exists()


def test_transient_errors_are_retried_until_the_vendor_answers(worker, fake_vendor):
    device = DeviceFactory.create(vendor="fake")
    fake_vendor.fail(
        "read_devices", VendorUnavailable("503"), VendorTimeout("slow"), RateLimited("429", 0.01)
    )

    refresh_devices.delay([device.pk])

    assert wait_until(lambda: Status.objects.filter(device=device).exists())
    assert [method for method, _ in fake_vendor.calls].count("read_devices") == 4


@pytest.fixture
def errors_in_body_api(fake_vendor, monkeypatch):
    """Devices of vendor "fake" talk to a vendor that reports errors inside 200 answers."""
    cloud = ErrorsInBodyCloud(base_url=ERRORS_IN_BODY_URL, api_token="key")
    monkeypatch.setitem(registry._clients, "fake", cloud)
    with respx.mock(base_url=ERRORS_IN_BODY_URL) as api:
        yield api
    cloud.close()


def test_a_transient_error_inside_a_200_answer_is_retried(worker, errors_in_body_api):
    device = DeviceFactory.create(vendor="fake")
    route = errors_in_body_api.post("device/status").mock(
        side_effect=[
            httpx.Response(200, json={"isok": False, "errors": {"max_req": "slow down"}}),
            httpx.Response(
                200, json={"isok": True, "data": {device.vendor_device_id: {"online": True}}}
            ),
        ]
    )

    refresh_devices.delay([device.pk])

    assert wait_until(lambda: Device.objects.get(pk=device.pk).last_seen_at is not None)
    assert route.call_count == 2


def test_a_permanent_error_inside_a_200_answer_is_not_retried(worker, errors_in_body_api):
    device = DeviceFactory.create(vendor="fake")
    route = errors_in_body_api.post("device/status").respond(
        200, json={"isok": False, "errors": {"device_not_found": "no such device"}}
    )

    refresh_devices.delay([device.pk])

    assert wait_until(lambda: Device.objects.get(pk=device.pk).last_error != "")
    assert route.call_count == 1
    assert "no such device" in Device.objects.get(pk=device.pk).last_error


def test_a_command_the_vendor_accepts_is_confirmed_by_the_read_it_asks_for(
    worker, fake_vendor, monkeypatch
):
    monkeypatch.setattr(delivery, "CONFIRMING_READ_DELAY", 0)
    fake_vendor.echoes = False
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=True)

    send_command.delay(command.pk)

    assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled, timeout=30)
    assert Command.objects.get(pk=command.pk).state == Command.State.CONFIRMED
    assert [method for method, _ in fake_vendor.calls] == ["set_status", "read_devices"]


def test_a_command_is_retried_after_a_transient_error_and_confirmed(worker, fake_vendor):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=False)
    fake_vendor.fail("set_status", VendorTimeout("slow"))

    send_command.delay(command.pk)

    assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)
    command.refresh_from_db()
    assert (command.state, command.attempts) == (Command.State.CONFIRMED, 2)
    methods = [method for method, _ in fake_vendor.calls]
    assert methods == ["set_status", "read_devices", "set_status"]


def test_a_task_gives_up_after_its_last_retry_and_fails_the_command(worker, fake_vendor, caplog):
    # Off, while the fake vendor reads every device as on: each retry must send again.
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=False)
    fake_vendor.fail("set_status", *[VendorUnavailable("503")] * 10)

    with caplog.at_level(logging.ERROR):
        send_command.delay(command.pk)
        assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)

    command.refresh_from_db()
    assert (command.state, command.error) == (Command.State.FAILED, "503")
    methods = [method for method, _ in fake_vendor.calls]
    # Each retry reads the device first, in case the failed attempt switched it after all.
    assert methods.count("set_status") == 1 + send_command.max_retries
    assert methods.count("read_devices") == send_command.max_retries
    assert len([r for r in caplog.records if "gave up" in r.getMessage()]) == 1


def test_a_permanent_error_is_not_retried_and_is_logged_once(worker, fake_vendor, caplog):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    fake_vendor.fail("set_status", UnknownDevice("no such device"))

    with caplog.at_level(logging.ERROR):
        send_command.delay(command.pk)
        assert wait_until(lambda: Command.objects.get(pk=command.pk).is_settled)

    assert len(fake_vendor.calls) == 1
    assert Command.objects.get(pk=command.pk).error == "no such device"
    assert len([r for r in caplog.records if "no such device" in r.getMessage()]) == 1
