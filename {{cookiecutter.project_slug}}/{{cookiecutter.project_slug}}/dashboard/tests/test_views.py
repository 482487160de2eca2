import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ...interactions.models import Command
from ...vendors.models import SimulatedDevice

pytestmark = pytest.mark.django_db


def drawn_points(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-points="(\d+)"', page)]


@pytest.fixture
def seeded(owner):
    """Two of Ada's simulated devices with a day of history, and someone else's."""
    from django.core.management import call_command

    call_command("seed_demo", "--devices", "3", "--history-days", "1", stdout=None)
    mine, also_mine, theirs = DeviceFactory._meta.model.objects.order_by("pk")
    for device in (mine, also_mine):
        device.owner = owner
        device.save()
    return mine, also_mine, theirs


def test_pages_ask_a_stranger_to_sign_in(client):
    response = client.get(reverse("dashboard:devices"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_device_list_shows_only_the_users_devices_with_their_readings(client, seeded):
    mine, also_mine, theirs = seeded

    page = client.get(reverse("dashboard:devices")).content.decode()

    assert mine.name in page and also_mine.name in page
    assert f">{theirs.name}<" not in page
    assert "temperature" in page and "°C" in page


def test_a_device_page_draws_a_chart_per_attribute(client, seeded):
    mine = seeded[0]

    page = client.get(reverse("dashboard:device", args=[mine.pk])).content.decode()

    # Temperature and power: a day of readings every ten minutes, one per five-minute bucket.
    points = drawn_points(page)
    assert len(points) == page.count('<svg class="chart"') == 2
    assert all(143 <= n <= 144 for n in points)


@pytest.mark.parametrize(("chosen", "buckets"), [("7d", {24, 25}), ("30d", {6, 7})])
def test_longer_ranges_draw_wider_buckets(client, seeded, chosen, buckets):
    page = client.get(reverse("dashboard:device", args=[seeded[0].pk]), {"range": chosen})

    # The same day of readings in hour-long (7d) or four-hour (30d) buckets, on both charts.
    points = drawn_points(page.content.decode())
    assert len(points) == 2 and set(points) <= buckets


def test_an_unknown_range_is_not_found(client, seeded):
    response = client.get(reverse("dashboard:device", args=[seeded[0].pk]), {"range": "1y"})

    assert response.status_code == 404


def test_someone_elses_device_is_not_found(client, seeded):
    response = client.get(reverse("dashboard:device", args=[seeded[2].pk]))

    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_switch_works_without_javascript(client, owner):
    SimulatedDevice.objects.create(vendor_device_id="sim-1", name="Plug")
    device = DeviceFactory.create(vendor="simulator", vendor_device_id="sim-1", owner=owner)

    response = client.post(reverse("dashboard:switch", args=[device.pk]), {"is_on": "false"})

    assert response.status_code == 302
    command = Command.objects.get()
    assert (command.is_on, command.state) == (False, "confirmed")
    page = client.get(response.url).content.decode()
    assert "Turn off: " in page and "confirmed" in page


def row_of(page: str, name: str) -> str:
    return next(row for row in page.split("<tr") if f">{name}</a>" in row)


def test_a_device_its_vendor_reports_offline_shows_offline_though_heard_from_lately(client, owner):
    now = timezone.now()
    down = DeviceFactory.create(name="Down", owner=owner, last_seen_at=now, reported_online=False)
    up = DeviceFactory.create(name="Up", owner=owner, last_seen_at=now, reported_online=True)

    listed = client.get(reverse("dashboard:devices")).content.decode()
    down_page = client.get(reverse("dashboard:device", args=[down.pk])).content.decode()
    up_page = client.get(reverse("dashboard:device", args=[up.pk])).content.decode()

    assert "flag offline" in row_of(listed, "Down")
    assert "flag offline" not in row_of(listed, "Up")
    assert "offline, says the vendor" in down_page
    assert "flag offline" not in up_page


def test_a_sensor_has_no_switch_and_an_unlisted_device_says_so(client, owner):
    sensor = DeviceFactory.create(
        owner=owner,
        can_switch=False,
        reading_names=["humidity"],
        unlisted_at=timezone.now() - timedelta(days=1),
    )
    plug = DeviceFactory.create(owner=owner)

    sensor_page = client.get(reverse("dashboard:device", args=[sensor.pk])).content.decode()
    plug_page = client.get(reverse("dashboard:device", args=[plug.pk])).content.decode()
    listed = client.get(reverse("dashboard:devices")).content.decode()

    assert "Turn on" not in sensor_page and "poller.js" not in sensor_page
    assert "A sensor: it reports humidity, and cannot be switched." in sensor_page
    assert "no longer listed by the vendor" in sensor_page
    assert "Turn on" in plug_page and "poller.js" in plug_page
    assert listed.count(">sensor</span>") == 1 and listed.count(">unlisted</span>") == 1


@pytest.mark.parametrize("sent", [{}, {"is_on": "maybe"}, {"is_on": "True"}])
def test_a_switch_that_says_neither_on_nor_off_is_a_400_and_sends_nothing(client, owner, sent):
    device = DeviceFactory.create(owner=owner)

    response = client.post(reverse("dashboard:switch", args=[device.pk]), sent)

    assert response.status_code == 400
    assert not Command.objects.exists()


def test_the_switch_of_a_sensor_is_refused_and_sends_nothing(client, owner):
    sensor = DeviceFactory.create(name="Cellar sensor", owner=owner, can_switch=False)

    response = client.post(
        reverse("dashboard:switch", args=[sensor.pk]), {"is_on": "true"}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Cellar sensor cannot be switched on or off: its vendor lists it as a sensor."
    ]
    assert not Command.objects.exists()
