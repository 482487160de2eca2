"""Tests of Fake Cloud's client, on the answers of its API documentation (respx)."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import respx

from .. import base
from ..fake_cloud import FakeCloudClient
from ..registry import vendor_client
from ..signing import ForgedPush, UnsignedPush

VENDOR = "fake_cloud"
# The vendor's API, answering from the routes each test sets (the api fixture, conftest.py).
BASE_URL = "https://vendor.example/api/v1/"
TOKEN = "token-4f1d9c2e"
WEBHOOK_SECRET = "whsec-91ac"
URL_SETTING = "FAKE_CLOUD_API_URL"
TOKEN_SETTING = "FAKE_CLOUD_API_TOKEN"
NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)

DEVICES = {
    "isok": True,
    "data": {
        "devices": {
            "plug-1": {
                "name": "Kitchen",
                "model": "plug-s",
                "relays": 1,
                "sensors": ["temperature"],
            },
            "sensor-7": {
                "name": "Cellar",
                "model": "ht",
                "relays": 0,
                "sensors": ["temperature", "humidity"],
            },
        }
    },
}
PLUG = {
    "isok": True,
    "data": {
        "online": True,
        "device_status": {
            "updated": int(NOON.timestamp()),
            "relays": [{"ison": True}],
            "sensors": {"temperature": 215},
        },
    },
}
SENSOR_OFFLINE = {
    "isok": True,
    "data": {
        "online": False,
        "device_status": {
            "updated": int(NOON.timestamp()),
            "relays": [],
            "sensors": {"humidity": 71},
        },
    },
}


@pytest.fixture
def client():
    client = FakeCloudClient(base_url=BASE_URL, api_token=TOKEN, webhook_secret=WEBHOOK_SECRET)
    yield client
    client.close()


def form(request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def test_list_devices_reads_the_list_keyed_by_id_and_which_devices_have_a_relay(client, api):
    route = api.post("devices/list").respond(json=DEVICES)

    assert client.list_devices() == [
        base.DeviceInfo("plug-1", "Kitchen", {"model": "plug-s"}, True, ("temperature",)),
        base.DeviceInfo("sensor-7", "Cellar", {"model": "ht"}, False, ("humidity", "temperature")),
    ]
    assert form(route.calls.last.request) == {"key": [TOKEN]}


def test_read_devices_reads_one_device_a_request_in_degrees_with_the_clouds_word(client, api):
    route = api.post("device/status")
    route.side_effect = [respx.MockResponse(json=PLUG), respx.MockResponse(json=SENSOR_OFFLINE)]

    reports = client.read_devices(["plug-1", "sensor-7"])

    assert [form(call.request)["id"] for call in route.calls] == [["plug-1"], ["sensor-7"]]
    assert reports == [
        base.DeviceReport(
            "plug-1",
            status=base.StatusReading("plug-1", True, "on", NOON),
            readings=(base.AttributeReading("plug-1", "temperature", 21.5, "°C", NOON),),
            online=True,
        ),
        base.DeviceReport(
            "sensor-7",
            readings=(base.AttributeReading("sensor-7", "humidity", 71.0, "%", NOON),),
            online=False,
        ),
    ]


def test_set_status_is_accepted_without_the_new_state(client, api):
    route = api.post("device/relay/control").respond(json={"isok": True})

    assert client.set_status("plug-1", False) is None
    assert form(route.calls.last.request) == {"key": [TOKEN], "id": ["plug-1"], "turn": ["off"]}


def test_the_key_travels_in_the_form_only(client, api):
    route = api.post("devices/list").respond(json=DEVICES)

    client.list_devices()

    assert "Authorization" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("errors", "error"),
    [
        ({"device_not_found": "Device not found!"}, base.UnknownDevice),
        ({"no_relay": "This device has no relay"}, base.RequestRejected),
        ({"max_req": "Request limit reached!"}, base.RateLimited),
    ],
)
def test_errors_inside_a_200_are_the_errors_they_say(client, api, errors, error):
    api.post("device/relay/control").respond(json={"isok": False, "errors": errors})

    with pytest.raises(error, match=next(iter(errors.values()))):
        client.set_status("plug-1", True)


def test_a_refused_key_fails_naming_its_setting_and_not_the_key(client, api):
    api.post("devices/list").respond(json={"isok": False, "errors": {"key": f"invalid: {TOKEN}"}})

    with pytest.raises(base.AuthenticationFailed, match=TOKEN_SETTING) as refused:
        client.list_devices()

    assert TOKEN not in str(refused.value)


def test_an_answer_without_a_field_the_client_reads_names_the_field(client, api):
    api.post("device/status").respond(json={"isok": True, "data": {"online": True}})

    with pytest.raises(base.ConfigurationError, match="no 'device_status' field"):
        client.read_devices(["plug-1"])


@pytest.mark.parametrize(
    ("option", "variable"), [("base_url", URL_SETTING), ("api_token", TOKEN_SETTING)]
)
def test_the_client_settings_vendors_builds_names_a_missing_setting(settings, option, variable):
    entry = settings.VENDORS[VENDOR]
    options = entry["OPTIONS"] | {"base_url": BASE_URL, "api_token": TOKEN, option: ""}
    settings.VENDORS = settings.VENDORS | {VENDOR: entry | {"OPTIONS": options}}

    with pytest.raises(base.ConfigurationError, match=f"{variable} is not set"):
        vendor_client(VENDOR).list_devices()


# The push of the documentation's webhook example, and the signature it gives for it.
PUSH = json.dumps({"event": "status", "id": "plug-1", "data": PLUG["data"]}).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Fake-Signature": base64.b64encode(digest).decode()}


def test_a_push_is_read_as_the_status_a_read_returns(client):
    (report,) = client.parse_push(PUSH)

    assert report.vendor_device_id == "plug-1"
    assert report.status == base.StatusReading("plug-1", True, "on", NOON)
    assert report.online is True


def test_a_push_is_the_vendors_when_its_body_is_signed_with_the_secret(client):
    headers = signed(PUSH)

    assert client.verify_push(headers, PUSH) == headers["X-Fake-Signature"]
    with pytest.raises(ForgedPush):
        client.verify_push(headers, PUSH.replace(b"true", b"false"))
    with pytest.raises(ForgedPush):
        client.verify_push(signed(PUSH, "another-secret"), PUSH)
    with pytest.raises(UnsignedPush):
        client.verify_push({}, PUSH)
