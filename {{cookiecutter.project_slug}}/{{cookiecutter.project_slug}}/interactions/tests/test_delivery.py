"""Commands are never lost nor stuck: the sweeper sends again what an attempt abandoned, never
twice at once, never twice to a device already switched, and fails what is past the timeout."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ...vendors.base import PermanentVendorError
from ...vendors.models import SimulatedDevice
from ...vendors.simulator import simulated_cloud
from .. import delivery, jobs
from ..models import Command
from ..schedule import periodic_job
from .factories import CommandFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lease(settings):
{%- if cookiecutter.scheduler == "celery-beat" %}
    settings.CELERY_TASK_TIME_LIMIT = 90
{%- endif %}
    settings.COMMAND_TIMEOUT_SECONDS = 3600
    return delivery.attempt_lease()


def ago(duration: timedelta):
    return timezone.now() - duration


def abandoned_mid_send(lease: timedelta) -> Command:
    """A command of the fake vendor whose one attempt started two leases ago, and stopped."""
    return CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"),
        state=Command.State.SENT,
        sent_at=ago(lease * 2),
        attempts=1,
    )


def test_a_command_is_claimed_by_one_attempt_at_a_time(fake_vendor, lease):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))

    first = delivery.claim(command.pk)
    second = delivery.claim(command.pk)

    assert first is not None and first.attempts == 1
    assert second is None


def test_a_command_left_queued_past_the_lease_is_sent_again(fake_vendor, lease):
    lost = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), queued_at=ago(lease * 2)
    )
    waiting = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), queued_at=ago(lease / 2)
    )
    sent: list[int] = []

    swept = delivery.settle_commands(sent.append)

    assert sent == swept.resent == [lost.pk]
    assert waiting.pk not in sent
    # Queued again now: the next sweep leaves it alone for another lease.
    assert delivery.settle_commands(sent.append).resent == []


def test_a_command_abandoned_mid_send_is_sent_once_more(fake_vendor, lease):
    command = abandoned_mid_send(lease)
    fake_vendor.is_on[command.device.vendor_device_id] = not command.is_on

    delivery.settle_commands(jobs.set_status)

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert command.attempts == 2
    # Read first, as the first attempt may have switched it; it had not, so sent once.
    assert [method for method, _ in fake_vendor.calls] == ["read_devices", "set_status"]


def test_a_command_being_sent_now_is_not_sent_again(fake_vendor, lease):
    CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), state=Command.State.SENT, sent_at=ago(lease / 2)
    )

    assert delivery.settle_commands(jobs.set_status).resent == []
    assert fake_vendor.calls == []


def test_a_send_that_reached_the_vendor_before_its_worker_died_is_not_sent_twice(
    simulated_devices, lease
):
    (device,) = simulated_devices(1)
    command = CommandFactory.create(device=device, is_on=False)
    # The first attempt: claimed, and switched at the vendor; then its process died.
    delivery.claim(command.pk)
    simulated_cloud().set_status(device.vendor_device_id, False)
    Command.objects.filter(pk=command.pk).update(sent_at=ago(lease * 2))

    delivery.settle_commands(jobs.set_status)

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert command.vendor_answer["is_on"] is False
    assert SimulatedDevice.objects.get().set_status_calls == 1


def test_a_command_past_the_timeout_fails_with_the_reason(fake_vendor, settings, lease):
    settings.COMMAND_TIMEOUT_SECONDS = 300
    never_taken = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), created_at=ago(timedelta(seconds=301))
    )
    unconfirmed = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"),
        created_at=ago(timedelta(seconds=400)),
        state=Command.State.SENT,
        sent_at=ago(lease * 2),
        attempts=3,
    )
    recent = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), created_at=ago(timedelta(seconds=200))
    )
    sent: list[int] = []

    swept = delivery.settle_commands(sent.append)

    assert sorted(swept.failed) == sorted([never_taken.pk, unconfirmed.pk])
    assert sent == []
    errors = dict(Command.objects.filter(state=Command.State.FAILED).values_list("pk", "error"))
    assert errors == {
        never_taken.pk: "not confirmed within 300 s: no worker took it",
        unconfirmed.pk: "not confirmed within 300 s: the vendor did not confirm it",
    }
    recent.refresh_from_db()
    assert recent.state == Command.State.QUEUED


def test_a_late_answer_does_not_undo_a_timeout_but_is_recorded(fake_vendor, lease, monkeypatch):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=False)
    answer = fake_vendor.set_status

    def slow_answer(vendor_device_id: str, is_on: bool):
        # The sweeper times the command out while the vendor takes its time.
        delivery.fail_command(command.pk, "not confirmed within 300 s")
        return answer(vendor_device_id, is_on)

    monkeypatch.setattr(fake_vendor, "set_status", slow_answer)

    jobs.set_status(command.pk)

    command.refresh_from_db()
    assert (command.state, command.error) == ("failed", "not confirmed within 300 s")
    assert command.device.statuses.latest().is_on is False


def test_only_a_command_never_sent_is_queued_again(fake_vendor):
    refused = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), state=Command.State.FAILED, error="not queued"
    )
    sent_once = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), state=Command.State.FAILED, attempts=1
    )

    assert delivery.requeue_if_never_sent(refused) is True
    assert delivery.requeue_if_never_sent(sent_once) is False
    refused.refresh_from_db()
    assert (refused.state, refused.error, refused.finished_at) == ("queued", "", None)


def test_a_command_for_a_vendor_no_longer_configured_fails_at_once(lease):
    command = CommandFactory.create(device=DeviceFactory.create(vendor="retired"))

    with pytest.raises(PermanentVendorError):
        jobs.set_status(command.pk)

    command.refresh_from_db()
    assert command.state == Command.State.FAILED and "retired" in command.error
{%- if cookiecutter.scheduler == "celery-beat" %}


def test_the_sweeper_leaves_what_it_cannot_queue_to_its_next_run(fake_vendor, lease, queue_down):
    command = CommandFactory.create(
        device=DeviceFactory.create(vendor="fake"), queued_at=ago(lease * 2)
    )

    periodic_job("settle_commands").run()

    command.refresh_from_db()
    assert (command.state, command.error) == (Command.State.QUEUED, "")
{%- else %}


def test_the_sweeper_sends_an_abandoned_command_in_its_run(fake_vendor, lease):
    command = abandoned_mid_send(lease)

    periodic_job("settle_commands").run()

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
{%- endif %}


def test_a_command_the_vendor_accepts_without_echo_waits_for_a_read(fake_vendor):
    fake_vendor.echoes = False
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=False)
    reads_asked: list[int] = []

    jobs.set_status(command.pk, read_soon=reads_asked.append)

    command.refresh_from_db()
    assert (command.state, command.is_settled) == (Command.State.ACCEPTED, False)
    assert reads_asked == [command.device_id]
    # Accepted means the vendor has it: no attempt, and no sweep, sends it again.
    assert delivery.claim(command.pk) is None


def test_an_accepted_command_is_confirmed_by_a_read_showing_the_state_asked_for(fake_vendor):
    fake_vendor.echoes = False
    device = DeviceFactory.create(vendor="fake")
    command = CommandFactory.create(device=device, is_on=False)
    jobs.set_status(command.pk)
    fake_vendor.is_on[device.vendor_device_id] = True  # the vendor has not switched it yet

    jobs.refresh_device(device.pk)
    assert Command.objects.get(pk=command.pk).state == Command.State.ACCEPTED

    fake_vendor.is_on[device.vendor_device_id] = False
    jobs.refresh_device(device.pk)

    command.refresh_from_db()
    assert command.state == Command.State.CONFIRMED
    assert command.vendor_answer["is_on"] is False
    assert command.finished_at is not None


def test_an_accepted_command_no_read_confirms_fails_after_the_timeout(fake_vendor, lease):
    fake_vendor.echoes = False
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"), is_on=True)
    jobs.set_status(command.pk)
    sent: list[int] = []

    swept = delivery.settle_commands(sent.append, now=timezone.now() + timedelta(seconds=3601))

    command.refresh_from_db()
    assert (swept.failed, swept.resent, sent) == ([command.pk], [], [])
    assert command.state == Command.State.FAILED
    assert command.error == (
        "not confirmed within 3600 s: the vendor accepted it, but no read showed the device on"
    )


def test_an_accepted_command_within_the_timeout_is_left_to_wait(fake_vendor, lease):
    fake_vendor.echoes = False
    command = CommandFactory.create(device=DeviceFactory.create(vendor="fake"))
    jobs.set_status(command.pk)
    sent: list[int] = []

    swept = delivery.settle_commands(sent.append, now=timezone.now() + lease * 2)

    assert (swept.failed, swept.resent, sent) == ([], [], [])
    assert Command.objects.get(pk=command.pk).state == Command.State.ACCEPTED
