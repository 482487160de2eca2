"""POST /webhooks/<vendor>/: a signed push is stored as a read is; anything else is a 4xx."""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.http import UnreadablePostError
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...interactions.models import WebhookDelivery
from ...observations.models import Attribute, Status
from ...vendors.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ForgedPush,
    UnsignedPush,
    matches,
    sign,
)
from ...vendors.simulator import SimulatorClient
from .. import webhooks

pytestmark = pytest.mark.django_db

URL = "/webhooks/simulator/"
SECRET = "simulator-webhook-secret"  # the test settings' (config/settings/test.py)
NOON = "2026-01-15T12:00:00+00:00"
PUSH = {
    "devices": [
        {
            "id": "plug-1",
            "online": True,
            "status": {"id": "plug-1", "is_on": True, "state": "on", "timestamp": NOON},
            "readings": [
                {"name": "power", "value": 61.5, "units": "W", "timestamp": NOON},
                {"name": "temperature", "value": 21.0, "units": "°C", "timestamp": NOON},
            ],
        }
    ]
}
BODY = json.dumps(PUSH).encode()
FAR_EAST = timezone(timedelta(hours=14))
FAR_WEST = timezone(-timedelta(hours=12))


@pytest.fixture
def plug():
    return DeviceFactory.create(vendor_device_id="plug-1", last_seen_at=None)


@pytest.fixture(autouse=True)
def fresh_refusal_log(monkeypatch):
    # Each test sees the first refusal of each kind logged.
    monkeypatch.setattr(webhooks, "refusals", webhooks.RefusalLog(webhooks.LOG_PERIOD))


def headers(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    signed_at = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: signed_at, SIGNATURE_HEADER: sign(secret, signed_at, body)}


def push(body: bytes = BODY, url: str = URL, **sent_headers: str):
    return Client().post(url, body, content_type="application/json", headers=sent_headers)


def test_a_signed_push_is_stored_like_a_read(plug):
    response = push(BODY, **headers(BODY))

    assert response.status_code == 200
    assert response.json() == {"devices": 1, "new_rows": 3}
    noon = datetime(2026, 1, 15, 12, tzinfo=UTC)
    stored = Attribute.objects.order_by("name").values_list("device", "name", "value", "valid_at")
    assert list(stored) == [(plug.pk, "power", 61.5, noon), (plug.pk, "temperature", 21.0, noon)]
    assert list(Status.objects.values_list("device", "is_on", "valid_at")) == [
        (plug.pk, True, noon)
    ]
    plug.refresh_from_db()
    assert plug.last_seen_at is not None
    assert plug.reported_online is True


def test_a_push_saying_the_device_is_offline_records_it(plug):
    offline = {"id": "plug-1", "online": False, "status": None, "readings": []}
    body = json.dumps({"devices": [offline]}).encode()

    response = push(body, **headers(body))

    assert response.status_code == 200
    plug.refresh_from_db()
    assert plug.reported_online is False


def test_the_same_push_delivered_twice_with_new_signatures_is_stored_once(plug):
    first = push(BODY, **headers(BODY, int(time.time()) - 5))
    second = push(BODY, **headers(BODY))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["new_rows"] == 0
    assert (Attribute.objects.count(), Status.objects.count()) == (2, 1)


def test_the_same_delivery_received_again_is_answered_but_stores_nothing_more(plug):
    # A vendor's retry of a push whose answer it missed, or a replay within the window.
    signed = headers(BODY)
    push(BODY, **signed)
    plug.refresh_from_db()
    seen_at = plug.last_seen_at

    again = push(BODY, **signed)

    assert again.status_code == 200
    assert again.json() == {"devices": 0, "new_rows": 0, "delivered_already": True}
    assert WebhookDelivery.objects.count() == 1
    plug.refresh_from_db()
    assert plug.last_seen_at == seen_at


class SignedOtherwise(SimulatorClient):
    """A vendor that signs a push with a base64 HMAC of the body in a header of its own, and
    no timestamp."""

    def verify_push(self, headers, body):
        signature = headers.get("X-Other-Signature", "")
        if not signature:
            raise UnsignedPush("X-Other-Signature")
        if not matches(signature, other_signature(body)):
            raise ForgedPush("X-Other-Signature does not match the body")
        return signature


def other_signature(body: bytes) -> str:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha512).digest()
    return base64.b64encode(digest * 2).decode()  # longer than any hex digest: 172 characters


@pytest.fixture
def signed_otherwise(monkeypatch):
    monkeypatch.setattr(SimulatorClient, "verify_push", SignedOtherwise.verify_push)


def test_a_vendor_that_signs_otherwise_is_verified_by_its_own_client(plug, signed_otherwise):
    signature = other_signature(BODY)

    first = push(BODY, **{"X-Other-Signature": signature})
    again = push(BODY, **{"X-Other-Signature": signature})
    forged = push(BODY, **{"X-Other-Signature": other_signature(b"another body")})
    unsigned = push(BODY, **headers(BODY))

    assert first.json() == {"devices": 1, "new_rows": 3}
    assert again.json()["delivered_already"] is True
    assert (forged.status_code, unsigned.status_code) == (403, 401)
    assert unsigned["WWW-Authenticate"] == 'HMAC-SHA256 header="X-Other-Signature"'
    assert unsigned.json() == {"error": "send the X-Other-Signature header"}
    assert (Attribute.objects.count(), WebhookDelivery.objects.count()) == (2, 1)


def test_a_tampered_body_is_refused(plug):
    tampered = BODY.replace(b"61.5", b"99.9")

    response = push(tampered, **headers(BODY))

    assert response.status_code == 403
    assert Attribute.objects.count() == 0


def test_a_push_signed_with_another_secret_is_refused(plug):
    response = push(BODY, **headers(BODY, secret="not-the-secret"))

    assert response.status_code == 403


def test_a_stale_push_is_refused_though_its_signature_is_right(plug, settings):
    settings.WEBHOOK_REPLAY_WINDOW_SECONDS = 300

    stale = push(BODY, **headers(BODY, int(time.time()) - 301))
    early = push(BODY, **headers(BODY, int(time.time()) + 301))

    assert (stale.status_code, early.status_code) == (403, 403)
    assert "X-Webhook-Timestamp" in stale.json()["error"]
    assert Attribute.objects.count() == 0


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_an_unsigned_push_is_refused_asking_for_the_headers(plug, missing):
    sent = headers(BODY)
    del sent[missing]

    response = push(BODY, **sent)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("HMAC-SHA256")


def test_an_oversized_push_is_refused(plug, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = len(BODY) - 1

    response = push(BODY, **headers(BODY))

    assert response.status_code == 413
    assert Attribute.objects.count() == 0


class Unreadable:
    """A request's body whose reading fails with `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def read(self, *args: object) -> bytes:
        raise self.error

    def close(self) -> None:
        pass


def receive_unreadable(error: Exception, content_length: int):
    request = RequestFactory().post(
        URL, BODY, content_type="application/json", headers=headers(BODY)
    )
    request.META["CONTENT_LENGTH"] = str(content_length)
    request._stream = Unreadable(error)  # type: ignore[assignment]
    return webhooks.receive(request, "simulator")


def test_an_oversized_push_is_refused_by_its_length_before_it_is_read(plug, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024

    # Beyond the limit, within DATA_UPLOAD_MAX_MEMORY_SIZE: Django itself would read it.
    response = receive_unreadable(AssertionError("the body was read"), 2048)

    assert response.status_code == 413


def test_a_push_whose_body_does_not_arrive_whole_is_a_400(plug):
    response = receive_unreadable(UnreadablePostError("connection reset"), len(BODY))

    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"devices": [{"id": "plug-1"}]}',
        BODY.replace(b"61.5", b"1e999"),
        BODY.replace(NOON.encode(), b"0001-01-01T00:00:00+14:00"),
        b'{"devices": "plug-1"}',
        b"[" * 100_000,
    ],
    ids=["not-json", "no-readings", "infinite", "before-year-one", "not-a-list", "deep"],
)
def test_a_malformed_push_is_a_400(plug, body):
    response = push(body, **headers(body))

    assert response.status_code == 400
    assert Attribute.objects.count() == 0 and WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("url", ["/webhooks/nobody/", "/webhooks/acme/"])
def test_an_unknown_vendor_or_one_without_a_secret_is_a_404(url, settings):
    # The first vendor, baked with the project, has no webhook secret unless one is set.
    vendor_without_secret = next(vendor for vendor in settings.VENDORS if vendor != "simulator")
    url = url.replace("acme", vendor_without_secret)

    response = push(BODY, url, **headers(BODY))

    assert response.status_code == 404


def test_only_post_is_allowed():
    response = Client().get(URL)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_a_push_for_a_device_the_project_does_not_have_stores_nothing():
    response = push(BODY, **headers(BODY))

    assert response.status_code == 200
    assert response.json() == {"devices": 0, "new_rows": 0}
    assert not Device.objects.exists()


def test_a_flood_of_refusals_is_logged_once_per_reason(plug, caplog):
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            push(BODY, **headers(BODY, secret="forged"))
        push(BODY)

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "does not match" in lines[0] and "X-Webhook-Timestamp" in lines[1]


def test_a_refusal_logged_a_period_ago_is_logged_again_with_the_count_held_back(plug, caplog):
    log = webhooks.RefusalLog(period=0.0)
    refusal = webhooks.Refused(403, "mis-signed", "no match")

    with caplog.at_level(logging.WARNING, logger=webhooks.__name__):
        log.refused("simulator", refusal)
        log.period = 3600.0
        log.refused("simulator", refusal)
        log.refused("simulator", refusal)
        log.period = 0.0
        log.refused("simulator", refusal)

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[1].endswith("(2 more since the last such line)")


# Bodies shaped like a push, with anything in their fields: values beyond a float, times beyond
# a year's range, names beyond a column's length.
readings = st.fixed_dictionaries(
    {
        "name": st.text(max_size=60),
        "value": st.floats() | st.integers() | st.integers(min_value=10**308, max_value=10**400),
        "units": st.text(max_size=30),
        "timestamp": st.datetimes(timezones=st.sampled_from([UTC, FAR_EAST, FAR_WEST])).map(
            datetime.isoformat
        )
        | st.text(max_size=30),
    }
)
devices = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["plug-1", "plug-2"]) | st.text(max_size=10),
        "online": st.none() | st.booleans() | st.integers(),
        "status": st.none(),
        "readings": st.lists(readings, max_size=3),
    }
)
pushes = st.fixed_dictionaries({"devices": st.lists(devices, max_size=3)}).map(
    lambda value: json.dumps(value).encode()
)


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=pushes | st.binary(max_size=300),
    signed=st.booleans(),
    timestamp=st.none() | st.text(max_size=15),
    signature=st.none() | st.text(max_size=80),
)
def test_whatever_is_sent_the_answer_is_never_a_5xx(plug, body, signed, timestamp, signature):
    if signed:
        sent = headers(body)
    else:
        sent = {
            name: value
            for name, value in [(TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)]
            if value is not None
        }

    response = push(body, **sent)

    assert response.status_code < 500
