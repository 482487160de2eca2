import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def owner(client):
    """Ada, signed in to the dashboard."""
    user = get_user_model().objects.create_user("ada", password="not-a-real-password")
    client.force_login(user)
    return user
