from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from ...observations.tests.factories import AttributeFactory, StatusFactory
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
