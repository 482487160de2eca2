import pytest
from rest_framework.test import APIClient

from ...devices.tests.factories import UserFactory

# The vendor fakes of the interactions tests, for commands sent through the API.
from ...interactions.tests.conftest import (
    fake_vendor,  # noqa: F401
{%- if cookiecutter.scheduler == "celery-beat" %}
    queue_down,  # noqa: F401
{%- endif %}
)


@pytest.fixture
def user(db):
    return UserFactory.create()


@pytest.fixture
def staff(db):
    return UserFactory.create(is_staff=True)


@pytest.fixture
def client_of():
    """An API client signed in as a person (authentication itself is tested on its own)."""

    def signed_in(person) -> APIClient:
        client = APIClient()
        client.force_authenticate(person)
        return client

    return signed_in


@pytest.fixture
def api(client_of, user) -> APIClient:
    """An API client signed in as `user`, who is not staff."""
    return client_of(user)
