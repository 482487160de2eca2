"""Failed sign-ins are throttled on the API's token endpoint, the dashboard and the admin."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ...devices.tests.factories import UserFactory
from ..models import SignInFailure

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.7"
HEROKU_ROUTER = "10.1.2.3"
# What each sign-in answers: (signed in, wrong password).
ENDPOINTS = {"token": (200, 400), "dashboard": (302, 200), "admin": (302, 200)}


@pytest.fixture(autouse=True)
def limits(settings):
    settings.SIGN_IN_THROTTLE = {
        "WINDOW_SECONDS": 600,
        "FAILURES_PER_ADDRESS": 3,
        "FAILURES_PER_USERNAME": 5,
    }


@pytest.fixture(autouse=True)
def alice(db):
    # Staff, so that the admin lets her in too.
    return UserFactory(username="alice", is_staff=True)


def sign_in(endpoint: str, username: str, password: str, address: str, **headers):
    credentials = {"username": username, "password": password}
    if endpoint == "token":
        client = APIClient()
        return client.post("/api/auth/token/", credentials, REMOTE_ADDR=address, **headers)
    url = reverse("login" if endpoint == "dashboard" else "admin:login")
    return Client().post(url, credentials, REMOTE_ADDR=address, **headers)


def fail(times: int, endpoint: str = "token", address: str = ATTACKER, username: str = "alice"):
    answers = {sign_in(endpoint, username, "wrong", address).status_code for _ in range(times)}
    assert answers == {ENDPOINTS[endpoint][1]}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_attempt_after_the_allowed_failures_is_429_with_retry_after(endpoint):
    fail(3, endpoint)

    refused = sign_in(endpoint, "alice", "wrong", ATTACKER)

    assert refused.status_code == 429
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert "Too many failed sign-ins" in refused.content.decode()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_throttled_address_is_refused_even_with_the_right_password(endpoint):
    fail(3, endpoint)

    response = sign_in(endpoint, "alice", PASSWORD, ATTACKER)

    assert response.status_code == 429
    assert not Token.objects.exists()
    assert "_auth_user_id" not in response.client.session


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_right_password_from_another_address_still_signs_in(endpoint):
    fail(3, endpoint)
    assert sign_in(endpoint, "alice", "wrong", ATTACKER).status_code == 429

    response = sign_in(endpoint, "alice", PASSWORD, ELSEWHERE)

    assert response.status_code == ENDPOINTS[endpoint][0]


def test_one_username_tried_from_many_addresses_is_throttled():
    for n in range(5):
        fail(1, address=f"192.0.2.{n}")

    # The same username, however it is capitalised or spaced.
    response = sign_in("token", " Alice", PASSWORD, ELSEWHERE)

    assert response.status_code == 429


def test_one_address_trying_many_usernames_is_throttled():
    for username in ["bob", "carol", "dave"]:
        fail(1, username=username)

    assert sign_in("token", "erin", "wrong", ATTACKER).status_code == 429
    assert sign_in("token", "erin", "wrong", ELSEWHERE).status_code == 400


def test_behind_a_proxy_the_address_it_appended_is_counted_not_the_ones_a_client_wrote(settings):
    settings.FORWARDED_FOR_PROXIES = 1
    for n in range(3):
        forwarded = f"192.0.2.{n}, {ATTACKER}"
        sign_in("token", "alice", "wrong", HEROKU_ROUTER, HTTP_X_FORWARDED_FOR=forwarded)

    forged = sign_in(
        "token", "alice", "wrong", HEROKU_ROUTER, HTTP_X_FORWARDED_FOR=f"{ELSEWHERE}, {ATTACKER}"
    )
    # Every request comes from the router: its address must not be what is counted.
    other = sign_in("token", "alice", PASSWORD, HEROKU_ROUTER, HTTP_X_FORWARDED_FOR=ELSEWHERE)

    assert (forged.status_code, other.status_code) == (429, 200)


def test_behind_a_proxy_a_request_without_forwarded_for_is_counted_by_its_peer(settings):
    settings.FORWARDED_FOR_PROXIES = 1
    fail(3, address=ATTACKER)

    assert sign_in("token", "bob", "wrong", ATTACKER).status_code == 429


def test_ipv6_addresses_count_by_their_64_network():
    for n in range(1, 4):
        fail(1, address=f"2001:db8::{n}")

    assert sign_in("token", "bob", "wrong", "2001:db8::ffff").status_code == 429
    assert sign_in("token", "bob", "wrong", "2001:db8:0:1::1").status_code == 400


def test_failures_older_than_the_window_no_longer_count_and_are_forgotten():
    fail(3)
    SignInFailure.objects.update(failed_at=F("failed_at") - timedelta(seconds=600))

    fail(1)

    assert SignInFailure.objects.count() == 1


def test_usernames_are_not_kept_as_typed():
    fail(1, username="my-secret-password")

    assert not SignInFailure.objects.filter(username__icontains="password").exists()
