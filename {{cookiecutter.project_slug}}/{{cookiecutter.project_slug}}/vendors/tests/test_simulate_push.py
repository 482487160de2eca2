"""manage.py simulate_push webhook: signed pushes, through the project's own endpoint."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ...devices.models import Device
from ...interactions.models import WebhookDelivery
from ...observations.models import Attribute
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
