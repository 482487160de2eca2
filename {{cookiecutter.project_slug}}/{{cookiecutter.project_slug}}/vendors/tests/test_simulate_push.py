"""manage.py simulate_push webhook: signed pushes, through the project's own endpoint."""

from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ...devices.models import Device
from ...interactions.models import WebhookDelivery
from ...observations.models import Attribute
from ..models import SimulatedDevice
from ..simulator import reading_period_start, simulated_cloud

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhook(live_server) -> str:
    return live_server.url + "/webhooks/simulator/"


def push(*arguments: str) -> str:
    out = StringIO()
    call_command("simulate_push", "webhook", *arguments, stdout=out)
    return out.getvalue()


@pytest.fixture
def mid_period(monkeypatch):
    """The clock stopped in the middle of the current reading period: pushes made one after
    the other push the same periods, however long each took."""
    period = simulated_cloud().options.reading_period
    moment = reading_period_start(timezone.now(), period) + timedelta(seconds=period / 2)
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_each_device_pushes_its_readings_which_are_stored_once(webhook, mid_period):
    call_command("seed_demo", "--devices", "3", "--history-days", "0")

    first = push("--readings", "2", "--url", webhook)
    again = push("--readings", "2", "--url", webhook)

    # Three plugs, two reading periods, two readings each (power and temperature).
    assert first.startswith(f"6 pushes accepted by {webhook}")
    assert (Attribute.objects.count(), WebhookDelivery.objects.count()) == (12, 12)
    assert again.endswith(": 0 new rows.\n")
    assert all(device.last_seen_at for device in Device.objects.all())


def test_only_the_devices_named_push(webhook):
    call_command("seed_demo", "--devices", "3", "--history-days", "0")

    push("--devices", "sim-00002", "--url", webhook)

    assert set(Attribute.objects.values_list("device__vendor_device_id", flat=True)) == {
        "sim-00002"
    }


def test_a_server_that_refuses_the_push_fails_the_command_with_its_answer(webhook, settings):
    call_command("seed_demo", "--devices", "1", "--history-days", "0")
    settings.WEBHOOK_MAX_BODY_BYTES = 10

    with pytest.raises(CommandError, match="answered 413"):
        push("--url", webhook)


@pytest.fixture
def rounds(monkeypatch):
    """The command's pauses between rounds, each a reading period long on a stopped clock;
    `rounds.between[n]` runs before round n + 2, and Ctrl+C comes in pause `rounds.last` + 1."""
    from ..management.commands import simulate_push

    period = timedelta(seconds=simulated_cloud().options.reading_period)
    clock = [reading_period_start(timezone.now(), int(period.total_seconds()))]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    paused: list[float] = []
    state = SimpleNamespace(between={}, last=2, paused=paused)

    def sleep(seconds: float) -> None:
        if len(paused) == state.last:
            raise KeyboardInterrupt
        state.between.get(len(paused), lambda: None)()
        paused.append(seconds)
        clock[0] += period

    monkeypatch.setattr(simulate_push.time, "sleep", sleep)
    return state


def test_every_pushes_each_devices_current_reading_round_after_round_until_stopped(webhook, rounds):
    call_command("seed_demo", "--devices", "1", "--history-days", "0")
    rounds.between[1] = lambda: SimulatedDevice.objects.update(is_on=False)

    output = push("--every", "5", "--url", webhook)

    assert rounds.paused == [5.0, 5.0]
    # Each round, a plug's two readings and its status.
    assert output.splitlines() == [
        "Pushing every 5 s; Ctrl+C stops.",
        *[f"1 pushes accepted by {webhook}: 3 new rows."] * 3,
        "Stopped.",
    ]
    # Three periods, one after the other; the last pushed after the device was switched off.
    powers = Attribute.objects.filter(name="power").order_by("valid_at")
    assert len(powers) == 3
    assert powers[0].valid_at + 2 * (powers[1].valid_at - powers[0].valid_at) == powers[2].valid_at
    assert powers[2].value == 0.4 < powers[1].value


def test_a_round_the_server_refuses_is_reported_and_the_next_one_goes_on(webhook, rounds, settings):
    call_command("seed_demo", "--devices", "1", "--history-days", "0")
    rounds.between[0] = lambda: setattr(settings, "WEBHOOK_MAX_BODY_BYTES", 10)
    rounds.between[1] = lambda: setattr(settings, "WEBHOOK_MAX_BODY_BYTES", 256 * 1024)
    errors = StringIO()

    call_command("simulate_push", "webhook", "--every", "1", "--url", webhook, stderr=errors)

    assert errors.getvalue().count("answered 413") == 1
    assert Attribute.objects.filter(name="power").count() == 2  # the first and the third


@pytest.mark.parametrize("every", ["0", "-1"])
def test_every_must_be_some_seconds(every):
    with pytest.raises(CommandError, match="--every must be a number of seconds above 0"):
        push("--every", every)
