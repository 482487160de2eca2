import json
import re
from datetime import datetime, timedelta

import pytest
from django.contrib.admin import AdminSite
from django.urls import reverse
from django.utils import timezone

from ...interactions.models import Command
from ...interactions.tests.conftest import (  # fixtures, found by pytest here
    fake_vendor,
{%- if cookiecutter.scheduler == "celery-beat" %}
    queue_down,
{%- endif %}
)
from ...observations.tests.factories import AttributeFactory, StatusFactory
from ..admin import DeviceAdmin
from ..models import Device
from .factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

NOON = datetime.fromisoformat("2026-01-15T12:00:00+00:00")


def test_device_list_searches_by_name(admin_client):
    DeviceFactory.create(name="Greenhouse heater")
    DeviceFactory.create(name="Garage plug")

    response = admin_client.get(reverse("admin:devices_device_changelist"), {"q": "greenhouse"})

    assert response.status_code == 200
    assert b"Greenhouse heater" in response.content
    assert b"Garage plug" not in response.content


def test_device_list_filters_by_vendor(admin_client):
    DeviceFactory.create(name="Simulated plug", vendor="simulator")
    DeviceFactory.create(name="Real plug", vendor="{{ cookiecutter.__vendor_module }}")

    response = admin_client.get(
        reverse("admin:devices_device_changelist"), {"vendor": "{{ cookiecutter.__vendor_module }}"}
    )

    assert b"Real plug" in response.content
    assert b"Simulated plug" not in response.content


def test_device_page_shows_the_newest_reading_of_each_attribute(admin_client):
    device = DeviceFactory.create()
    AttributeFactory.create(device=device, name="temperature", value=19.5, valid_at=NOON)
    AttributeFactory.create(
        device=device, name="temperature", value=21.25, valid_at=NOON + timedelta(hours=1)
    )
    AttributeFactory.create(device=device, name="power", value=42, units="W", valid_at=NOON)
    StatusFactory.create(device=device, is_on=False, state="standby", valid_at=NOON)

    response = admin_client.get(reverse("admin:devices_device_change", args=[device.pk]))

    page = response.content.decode()
    assert "21.25 °C" in page
    assert "19.5 °C" not in page
    assert "42 W" in page
    assert "standby" in page


def test_device_page_without_readings_says_so(admin_client):
    device = DeviceFactory.create()

    response = admin_client.get(reverse("admin:devices_device_change", args=[device.pk]))

    assert b"No readings yet." in response.content


def test_add_device_page_renders(admin_client):
    response = admin_client.get(reverse("admin:devices_device_add"))

    assert response.status_code == 200


def test_staff_give_a_device_an_owner_in_the_admin(admin_client):
    device = DeviceFactory.create(name="Heater", vendor="simulator", vendor_device_id="sim-1")
    owner = UserFactory.create()

    admin_client.post(
        reverse("admin:devices_device_change", args=[device.pk]),
        {
            "name": "Heater",
            "location": "",
            "owner": owner.pk,
            "vendor": "simulator",
            "vendor_device_id": "sim-1",
            "metadata": "{}",
        },
    )

    device.refresh_from_db()
    assert device.owner == owner


def change_device(admin_client, device, metadata: str):
    return admin_client.post(
        reverse("admin:devices_device_change", args=[device.pk]),
        {
            "name": device.name,
            "location": device.location,
            "vendor": device.vendor,
            "vendor_device_id": device.vendor_device_id,
            "metadata": metadata,
        },
    )


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("[" * 100_000 + "]" * 100_000, "Enter valid JSON: nested deeper than 32 levels."),
        (
            '{"a":' * 100_000 + "1" + "}" * 100_000,
            "Enter valid JSON: nested deeper than 32 levels.",
        ),
        (
            json.dumps({"serial": 2**64}),
            'Cannot store an integer beyond 64 bits (send it as a string) at ["serial"].',
        ),
        ('{"reading": NaN}', "Enter valid JSON: NaN is not a JSON number (send null or a string)."),
        ('{"reading": 1e400}', 'Cannot store a number that is not finite at ["reading"].'),
        ('{"note": "a\\u0000b"}', 'Cannot store a text with a NUL character at ["note"].'),
    ],
)
def test_metadata_that_cannot_be_stored_is_a_form_error(admin_client, metadata, error):
    device = DeviceFactory.create(metadata={"model": "X1"})

    response = change_device(admin_client, device, metadata)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["metadata"] == [error]
    device.refresh_from_db()
    assert device.metadata == {"model": "X1"}


def test_metadata_with_the_largest_64_bit_integer_is_saved(admin_client):
    device = DeviceFactory.create()

    response = change_device(admin_client, device, json.dumps({"serial": 2**64 - 1}))

    assert response.status_code == 302
    device.refresh_from_db()
    assert device.metadata == {"serial": 2**64 - 1}


def test_the_list_says_what_the_vendor_says_and_heard_from_is_unknown_before_it_answers(
    settings,
):
    settings.MONITOR_INTERVAL_SECONDS = 60
    now = timezone.now()
    down = DeviceFactory.create(last_seen_at=now, reported_online=False)
    new = DeviceFactory.create(last_seen_at=None)
    silent = DeviceFactory.create(last_seen_at=now - timedelta(hours=1))
    up = DeviceFactory.create(last_seen_at=now, reported_online=True)
    device_admin = DeviceAdmin(Device, AdminSite())

    columns = {
        device.name: (
            device_admin.online(device),
            device_admin.heard_from(device),
            device.reported_online,
        )
        for device in (down, new, silent, up)
    }

    assert columns == {
        down.name: (False, True, False),
        new.name: (False, None, None),
        silent.name: (False, False, None),
        up.name: (True, True, True),
    }


def test_the_changelist_shows_the_vendors_word_and_capabilities(admin_client):
    DeviceFactory.create(name="Down", last_seen_at=timezone.now(), reported_online=False)

    response = admin_client.get(reverse("admin:devices_device_changelist"))

    page = response.content.decode()
    for column in ("online", "heard_from", "reported_online", "can_switch", "listed"):
        assert f"column-{column}" in page
    row = next(row for row in page.split("<tr") if ">Down</a>" in row)
    # online: no; heard from: yes; the vendor's word: offline; can switch: yes; listed: yes.
    assert re.findall(r'alt="(\w+)"', row) == ["False", "True", "False", "True", "True"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures(fake_vendor.__name__)
def test_switching_from_the_admin_skips_the_devices_that_cannot_be_switched(admin_client):
    plug = DeviceFactory.create(name="Plug", vendor="fake")
    sensor = DeviceFactory.create(name="Cellar sensor", vendor="fake", can_switch=False)

    response = admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "turn_off", "_selected_action": [plug.pk, sensor.pk]},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert messages[0] == "Turn off: skipped 1 devices that cannot be switched (Cellar sensor)."
    assert messages[1].startswith("Turn off, 1 commands (Plug: ")
    assert list(Command.objects.values_list("device", flat=True)) == [plug.pk]
{%- if cookiecutter.scheduler == "celery-beat" %}


# Outside a transaction, as an action runs: its tasks are queued while it runs.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures(queue_down.__name__)
@pytest.mark.parametrize("action", ["refresh_now", "turn_off"])
def test_an_action_the_task_queue_refuses_says_so_in_one_message(admin_client, action):
    device = DeviceFactory.create()

    response = admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": action, "_selected_action": [device.pk]},
        follow=True,
    )

    assert response.status_code == 200
    (message,) = [str(message) for message in response.context["messages"]]
    assert message.startswith("The task queue cannot be reached, so nothing was ")
    assert message.endswith(": try again in 30 s.")
{%- endif %}
