"""The HTTP vendor client against canned responses (respx): every success and every failure.

When you point the client at your real vendor, replace these bodies with examples from the
vendor's documentation; test_simulator_api.py runs the same client over real sockets.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from .. import base
from ..{{ cookiecutter.__vendor_module }} import (
    {{ cookiecutter.__vendor_class }},
    parse_retry_after,
)

BASE_URL = "https://vendor.example/api/v1/"
TOKEN = "token-4f1d9c2e"
URL_SETTING = "{{ cookiecutter.__vendor_module.upper() }}_API_URL"
TOKEN_SETTING = "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN"
NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)


def status_json(vendor_device_id: str, is_on: bool = True) -> dict:
    state = "on" if is_on else "standby"
    return {"id": vendor_device_id, "is_on": is_on, "state": state, "timestamp": NOON.isoformat()}


def make_client(**options: Any) -> {{ cookiecutter.__vendor_class }}:
    options = {"base_url": BASE_URL, "api_token": TOKEN} | options
    return {{ cookiecutter.__vendor_class }}(**options)


@pytest.fixture
def vendor():
    client = make_client()
    yield client
    client.close()


@pytest.fixture
def api():
    """The vendor's API: a request no route matches fails the test, so does an unused route."""
    with respx.mock(base_url=BASE_URL) as mock:
        yield mock


def test_list_devices_returns_the_vendors_devices(vendor, api):
    api.get("devices").respond(
        json={
            "devices": [
                {"id": "plug-1", "name": "Kitchen", "metadata": {"model": "P100"}},
                {"id": "plug-2", "name": "Garage"},
            ]
        }
    )

    devices = vendor.list_devices()

    assert devices == [
        base.DeviceInfo("plug-1", "Kitchen", {"model": "P100"}),
        base.DeviceInfo("plug-2", "Garage", {}),
    ]


def test_read_statuses_asks_for_all_ids_in_one_request(vendor, api):
    route = api.get("status", params={"ids": "plug-1,plug-2"}).respond(
        json={"statuses": [status_json("plug-1"), status_json("plug-2", is_on=False)]}
    )

    statuses = vendor.read_statuses(["plug-1", "plug-2"])

    assert route.call_count == 1
    assert statuses == [
        base.StatusReading("plug-1", True, "on", NOON),
        base.StatusReading("plug-2", False, "standby", NOON),
    ]


def test_read_attributes_returns_values_units_and_aware_timestamps(vendor, api):
    api.get("readings", params={"ids": "plug-1"}).respond(
        json={
            "readings": [
                {
                    "id": "plug-1",
                    "name": "temperature",
                    "value": 21.5,
                    "units": "°C",
                    "timestamp": "2026-01-15T13:00:00+01:00",
                },
                {
                    "id": "plug-1",
                    "name": "power",
                    "value": 60,
                    "units": "W",
                    "timestamp": "2026-01-15T12:00:00Z",
                },
            ]
        }
    )

    readings = vendor.read_attributes(["plug-1"])

    assert readings == [
        base.AttributeReading("plug-1", "temperature", 21.5, "°C", NOON),
        base.AttributeReading("plug-1", "power", 60.0, "W", NOON),
    ]
    assert all(reading.valid_at.tzinfo is not None for reading in readings)


def test_a_timestamp_without_offset_is_read_as_utc(vendor, api):
    status = status_json("plug-1") | {"timestamp": "2026-01-15T12:00:00"}
    api.get("status").respond(json={"statuses": [status]})

    (reading,) = vendor.read_statuses(["plug-1"])

    assert reading.valid_at == NOON
    assert reading.valid_at.utcoffset() == timedelta(0)


def test_a_read_of_more_ids_than_batch_size_is_split_into_batches(api):
    vendor = make_client(batch_size=2)
    first = api.get("status", params={"ids": "a,b"}).respond(
        json={"statuses": [status_json("a"), status_json("b")]}
    )
    second = api.get("status", params={"ids": "c"}).respond(json={"statuses": [status_json("c")]})

    statuses = vendor.read_statuses(["a", "b", "c"])

    assert (first.call_count, second.call_count) == (1, 1)
    assert [s.vendor_device_id for s in statuses] == ["a", "b", "c"]


def test_a_read_of_no_ids_sends_no_request(vendor, api):
    assert vendor.read_statuses([]) == []
    assert vendor.read_attributes([]) == []
    assert api.calls.call_count == 0


def test_set_status_puts_is_on_and_returns_the_confirmed_status(vendor, api):
    route = api.put("devices/plug-1/status").respond(json=status_json("plug-1", is_on=False))

    status = vendor.set_status("plug-1", False)

    assert json.loads(route.calls.last.request.content) == {"is_on": False}
    assert status == base.StatusReading("plug-1", False, "standby", NOON)


def test_set_status_quotes_the_device_id_in_the_path(vendor, api):
    route = api.put(path__regex=r"/status$").respond(json=status_json("hall/lamp 1"))

    vendor.set_status("hall/lamp 1", True)

    assert route.calls.last.request.url.raw_path == b"/api/v1/devices/hall%2Flamp%201/status"


def test_every_request_sends_the_bearer_token(vendor, api):
    route = api.get("devices").respond(json={"devices": []})

    vendor.list_devices()

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_every_request_has_the_configured_timeout(api):
    vendor = make_client(timeout=2.5)
    route = api.get("devices").respond(json={"devices": []})

    vendor.list_devices()

    assert route.calls.last.request.extensions["timeout"] == {
        "connect": 2.5,
        "read": 2.5,
        "write": 2.5,
        "pool": 2.5,
    }


def test_a_timeout_raises_vendor_timeout(vendor, api):
    api.get("devices").mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(base.VendorTimeout, match="no answer within 10 s"):
        vendor.list_devices()


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.RemoteProtocolError])
def test_a_lost_connection_raises_vendor_unavailable(vendor, api, failure):
    api.get("devices").mock(side_effect=failure)

    with pytest.raises(base.VendorUnavailable):
        vendor.list_devices()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_raises_vendor_unavailable(vendor, api, status):
    api.get("devices").respond(status, json={"error": "try again later"})

    with pytest.raises(base.VendorUnavailable, match=f"answered {status}: try again later"):
        vendor.list_devices()


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [("7", 7.0), ("1.5", 1.5), ("soon", None), ("-3", None), ("nan", None), (None, None)],
)
def test_429_raises_rate_limited_with_retry_after(vendor, api, header, retry_after):
    headers = {"Retry-After": header} if header is not None else {}
    api.get("devices").respond(429, headers=headers, json={"error": "slow down"})

    with pytest.raises(base.RateLimited) as raised:
        vendor.list_devices()

    assert raised.value.retry_after == retry_after


def test_retry_after_as_an_http_date_is_the_seconds_until_then():
    assert parse_retry_after("Thu, 15 Jan 2026 12:00:30 GMT", now=NOON) == 30.0
    assert parse_retry_after("Thu, 15 Jan 2026 11:59:00 GMT", now=NOON) == 0.0


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_raise_authentication_failed_naming_the_token_setting(vendor, api, status):
    api.get("devices").respond(status, json={"error": "bad token"})

    with pytest.raises(base.AuthenticationFailed, match=TOKEN_SETTING):
        vendor.list_devices()


def test_404_raises_unknown_device_with_the_vendors_message(vendor, api):
    api.get("status").respond(404, json={"error": "no device plug-9"})

    with pytest.raises(base.UnknownDevice, match="no device plug-9"):
        vendor.read_statuses(["plug-9"])


@pytest.mark.parametrize("status", [301, 400, 405, 409, 422])
def test_other_4xx_and_redirects_raise_request_rejected(vendor, api, status):
    api.put("devices/plug-1/status").respond(status, text="<html>no</html>")

    with pytest.raises(base.RequestRejected, match=f"answered {status}$"):
        vendor.set_status("plug-1", True)


@pytest.mark.parametrize(
    ("body", "explanation"),
    [
        ("<html>Maintenance</html>", "not JSON"),
        ('{"devices": [{"id": "plug-1"}]}', "no 'name' field"),
        ('{"items": []}', "no 'devices' field"),
        ('["plug-1"]', "list indices must be integers"),
        ('{"devices": [{"id": 7, "name": "Kitchen"}]}', "id is int, not a string"),
        ('{"devices": [{"id": "p", "name": "K", "metadata": []}]}', "metadata is list"),
    ],
)
def test_a_malformed_success_body_raises_vendor_unavailable(vendor, api, body, explanation):
    api.get("devices").respond(200, text=body)

    with pytest.raises(base.VendorUnavailable, match="unexpected body") as raised:
        vendor.list_devices()

    assert explanation in str(raised.value)


@pytest.mark.parametrize(
    "status",
    [
        {"id": "plug-1", "is_on": "yes", "state": "on", "timestamp": "2026-01-15T12:00:00Z"},
        {"id": "plug-1", "is_on": True, "state": "on", "timestamp": "yesterday"},
        {"id": "plug-1", "is_on": True, "state": "on"},
    ],
    ids=["is_on not a boolean", "timestamp not ISO 8601", "no timestamp"],
)
def test_a_malformed_status_raises_vendor_unavailable(vendor, api, status):
    api.get("status").respond(json={"statuses": [status]})

    with pytest.raises(base.VendorUnavailable):
        vendor.read_statuses(["plug-1"])


@pytest.mark.parametrize("value", ["21.5", True, None])
def test_a_reading_whose_value_is_not_a_number_raises_vendor_unavailable(vendor, api, value):
    reading = {"id": "p", "name": "power", "value": value, "units": "W", "timestamp": "2026-01-15"}
    api.get("readings").respond(json={"readings": [reading]})

    with pytest.raises(base.VendorUnavailable, match="value is"):
        vendor.read_attributes(["p"])


def test_an_empty_base_url_raises_a_permanent_error_naming_the_setting(api):
    vendor = make_client(base_url="")

    with pytest.raises(base.PermanentVendorError, match=f"{URL_SETTING} is not set"):
        vendor.list_devices()

    assert api.calls.call_count == 0


def test_an_empty_token_raises_a_permanent_error_naming_the_setting(api):
    vendor = make_client(api_token="")

    with pytest.raises(base.PermanentVendorError, match=f"{TOKEN_SETTING} is not set"):
        vendor.read_statuses(["plug-1"])

    assert api.calls.call_count == 0


def test_a_base_url_without_scheme_raises_a_permanent_error():
    vendor = make_client(base_url="vendor.example/api/v1/")

    with pytest.raises(base.PermanentVendorError, match="must start with https://"):
        vendor.list_devices()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_the_token_is_never_in_an_error_message(vendor, api, status):
    api.get("devices").respond(status, json={"error": f"token {TOKEN} is not valid here"})

    with pytest.raises(base.VendorError) as raised:
        vendor.list_devices()

    assert TOKEN not in str(raised.value)
    assert "token [token] is not valid here" in str(raised.value)


def test_the_token_is_never_in_a_connection_error_message(vendor, api):
    api.get("devices").mock(side_effect=httpx.ConnectError(f"refused for Bearer {TOKEN}"))

    with pytest.raises(base.VendorUnavailable) as raised:
        vendor.list_devices()

    assert TOKEN not in str(raised.value)


def test_error_messages_are_one_line(vendor, api):
    api.get("devices").respond(404, json={"error": "no such\ndevice,\n  really"})

    with pytest.raises(base.UnknownDevice) as raised:
        vendor.list_devices()

    assert str(raised.value).endswith(": no such device, really")


def test_close_closes_the_connection_pool():
    vendor = make_client()

    vendor.close()

    assert vendor._http.is_closed


def test_non_utc_offsets_are_kept_as_the_same_moment(vendor, api):
    status = status_json("plug-1") | {"timestamp": "2026-01-15T09:00:00-03:00"}
    api.get("status").respond(json={"statuses": [status]})

    (reading,) = vendor.read_statuses(["plug-1"])

    assert reading.valid_at == NOON
    assert reading.valid_at.utcoffset() == timedelta(hours=-3)
