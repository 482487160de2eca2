import pytest
from django.urls import reverse

from ...devices.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_add_a_person_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "username": "grace",
            "password1": "a-long-test-password",
            "password2": "a-long-test-password",
        },
    )

    assert response.status_code == 302
    assert UserFactory._meta.model.objects.get(username="grace").check_password(
        "a-long-test-password"
    )


def test_a_devices_owner_is_found_by_the_admins_autocomplete(admin_client):
    UserFactory(username="ada")
    UserFactory(username="grace")

    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "devices", "model_name": "device", "field_name": "owner", "term": "gra"},
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["grace"]
