import pytest
from django.urls import reverse

from .factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db


def test_attribute_list_shows_readings_and_filters_by_name(admin_client):
    AttributeFactory.create(name="temperature", value=21.5)
    AttributeFactory.create(name="power", value=42, units="W")

    response = admin_client.get(
        reverse("admin:observations_attribute_changelist"), {"name": "power"}
    )

    assert response.status_code == 200
    assert b'<td class="field-value">42.0</td>' in response.content
    assert b"21.5" not in response.content


def test_status_list_renders(admin_client):
    status = StatusFactory.create(state="standby")

    response = admin_client.get(reverse("admin:observations_status_changelist"))

    assert status.device.name.encode() in response.content
    assert b"standby" in response.content


def test_a_reading_can_be_seen_but_not_changed(admin_client):
    reading = AttributeFactory.create(name="power", value=42, units="W")
    url = reverse("admin:observations_attribute_change", args=[reading.pk])

    page = admin_client.get(url)
    admin_client.post(url, {"device": reading.device.pk, "name": "power", "value": 1})

    assert page.status_code == 200
    assert b"Save" not in page.content
    reading.refresh_from_db()
    assert reading.value == 42
