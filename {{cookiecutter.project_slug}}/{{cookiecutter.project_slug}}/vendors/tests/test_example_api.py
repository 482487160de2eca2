"""The example API's client against canned responses (respx): every success and every failure
of vendors/http.py's transport, through a client that uses it as a team's client does.

test_simulator_api.py runs the same client over real sockets.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .. import base
from ..example_api import ExampleAPIClient
from ..http import parse_retry_after

BASE_URL = "https://vendor.example/api/v1/"
TOKEN = "token-4f1d9c2e"
NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)


def status_json(vendor_device_id: str, is_on: bool = True) -> dict:
    state = "on" if is_on else "standby"
    return {"id": vendor_device_id, "is_on": is_on, "state": state, "timestamp": NOON.isoformat()}


def report_json(vendor_device_id: str, is_on: bool = True, **fields: Any) -> dict:
    report = {
        "id": vendor_device_id,
        "online": True,
        "status": status_json(vendor_device_id, is_on),
        "readings": [],
    }
    return report | fields


def make_client(**options: Any) -> ExampleAPIClient:
    options = {"base_url": BASE_URL, "api_token": TOKEN} | options
    return ExampleAPIClient(**options)


@pytest.fixture
def vendor():
    client = make_client()
    yield client
    client.close()


def test_list_devices_returns_the_vendors_devices(vendor, api):
    api.get("devices").respond(
        json={
            "devices": [
                {
                    "id": "plug-1",
                    "name": "Kitchen",
                    "metadata": {"model": "P100"},
                    "can_switch": True,
                    "readings": ["power"],
                },
                {"id": "plug-2", "name": "Garage", "can_switch": False, "readings": []},
            ]
        }
    )

    devices = vendor.list_devices()

    assert devices == [
        base.DeviceInfo("plug-1", "Kitchen", {"model": "P100"}, True, ("power",)),
        base.DeviceInfo("plug-2", "Garage", {}, can_switch=False),
    ]


def test_read_devices_asks_for_all_ids_in_one_request(vendor, api):
    route = api.get("state", params={"ids": "plug-1,plug-2,sensor-3"}).respond(
        json={
            "devices": [
                report_json("plug-1"),
                report_json("plug-2", is_on=False, online=False),
                report_json("sensor-3", status=None, online=None),
            ]
        }
    )

    reports = vendor.read_devices(["plug-1", "plug-2", "sensor-3"])

    assert route.call_count == 1
    assert reports == [
        base.DeviceReport("plug-1", base.StatusReading("plug-1", True, "on", NOON), online=True),
        base.DeviceReport(
            "plug-2", base.StatusReading("plug-2", False, "standby", NOON), online=False
        ),
        base.DeviceReport("sensor-3", None, online=None),
    ]


def test_read_devices_returns_values_units_and_aware_timestamps(vendor, api):
    readings_json = [
        {
            "name": "temperature",
            "value": 21.5,
            "units": "°C",
            "timestamp": "2026-01-15T13:00:00+01:00",
        },
        {
            "name": "power",
            "value": 60,
            "units": "W",
            "timestamp": "2026-01-15T12:00:00Z",
        },
    ]
    api.get("state", params={"ids": "plug-1"}).respond(
        json={"devices": [report_json("plug-1", readings=readings_json)]}
    )

    (report,) = vendor.read_devices(["plug-1"])
    readings = list(report.readings)

    assert readings == [
        base.AttributeReading("plug-1", "temperature", 21.5, "°C", NOON),
        base.AttributeReading("plug-1", "power", 60.0, "W", NOON),
    ]
    assert all(reading.valid_at.tzinfo is not None for reading in readings)


def test_a_timestamp_without_offset_is_read_as_utc(vendor, api):
    status = status_json("plug-1") | {"timestamp": "2026-01-15T12:00:00"}
    api.get("state").respond(json={"devices": [report_json("plug-1", status=status)]})

    reading = only_status(vendor)

    assert reading.valid_at == NOON
    assert reading.valid_at.utcoffset() == timedelta(0)


def test_a_read_of_no_ids_sends_no_request(vendor, api):
    assert vendor.read_devices([]) == []
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

    with pytest.raises(base.AuthenticationFailed, match="check api_token"):
        vendor.list_devices()


def test_404_raises_unknown_device_with_the_vendors_message(vendor, api):
    api.get("state").respond(404, json={"error": "no device plug-9"})

    with pytest.raises(base.UnknownDevice, match="no device plug-9"):
        vendor.read_devices(["plug-9"])


@pytest.mark.parametrize("body", ["<html>Not Found</html>", "", "Not Found"])
def test_404_without_the_apis_error_body_is_a_configuration_error(vendor, api, body):
    # A wrong base URL: every path is missing, and the answer is some server's page.
    api.get("state").respond(404, text=body)

    with pytest.raises(base.ConfigurationError, match="not the vendor's API: check base_url"):
        vendor.read_devices(["plug-1"])


def test_a_configuration_error_shows_where_the_calls_went_without_credentials(api):
    vendor = make_client(base_url="https://user:s3cret@vendor.example/api/v1/")
    api.get("state").respond(404, text="<html>Not Found</html>")

    with pytest.raises(base.ConfigurationError) as raised:
        vendor.read_devices(["plug-1"])

    assert str(raised.value).endswith("check base_url (https://vendor.example/api/v1/)")
    shown = make_client(base_url="http://u:p@127.0.0.1:8000/v1/?api_key=k#top").shown_url()
    assert shown == "http://127.0.0.1:8000/v1/"
    vendor.close()


@pytest.mark.parametrize("status", [301, 400, 405, 409, 422])
def test_other_4xx_and_redirects_raise_request_rejected(vendor, api, status):
    api.put("devices/plug-1/status").respond(status, text="<html>no</html>")

    with pytest.raises(base.RequestRejected, match=f"answered {status}$"):
        vendor.set_status("plug-1", True)


@pytest.mark.parametrize("body", ["<html>Welcome</html>", "", '{"devices": ['])
def test_a_success_that_is_not_json_is_a_configuration_error(vendor, api, body):
    api.get("devices").respond(200, text=body)

    with pytest.raises(base.ConfigurationError, match="body that is not JSON: check that base_url"):
        vendor.list_devices()


@pytest.mark.parametrize(
    ("body", "explanation"),
    [
        ('{"devices": [{"id": "plug-1"}]}', "no 'name' field"),
        ('{"items": []}', "no 'devices' field"),
        ('["plug-1"]', "list indices must be integers"),
        ('{"devices": [{"id": 7, "name": "Kitchen"}]}', "id is int, not a string"),
        ('{"devices": [{"id": "p", "name": "K", "metadata": []}]}', "metadata is list"),
        ('{"devices": [{"id": "p", "name": "K", "can_switch": 1, "readings": []}]}', "can_switch"),
    ],
)
def test_a_malformed_success_body_is_a_configuration_error(vendor, api, body, explanation):
    api.get("devices").respond(200, text=body)

    with pytest.raises(base.ConfigurationError, match="unexpected body") as raised:
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
def test_a_malformed_status_is_a_configuration_error(vendor, api, status):
    api.get("state").respond(json={"devices": [report_json("plug-1", status=status)]})

    with pytest.raises(base.ConfigurationError):
        vendor.read_devices(["plug-1"])


@pytest.mark.parametrize("value", ["21.5", True, None])
def test_a_reading_whose_value_is_not_a_number_is_a_configuration_error(vendor, api, value):
    reading = {"name": "power", "value": value, "units": "W", "timestamp": "2026-01-15"}
    api.get("state").respond(json={"devices": [report_json("p", readings=[reading])]})

    with pytest.raises(base.ConfigurationError, match="value is"):
        vendor.read_devices(["p"])


def test_an_empty_base_url_is_a_configuration_error_naming_the_setting(api):
    vendor = make_client(base_url="")

    with pytest.raises(base.ConfigurationError, match="base_url is not set"):
        vendor.list_devices()

    assert api.calls.call_count == 0


def test_an_empty_token_is_a_configuration_error_naming_the_setting(api):
    vendor = make_client(api_token="")

    with pytest.raises(base.ConfigurationError, match="api_token is not set"):
        vendor.read_devices(["plug-1"])

    assert api.calls.call_count == 0


def test_a_base_url_without_scheme_is_a_configuration_error():
    vendor = make_client(base_url="vendor.example/api/v1/")

    with pytest.raises(base.ConfigurationError, match="a URL starting with https://"):
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
    api.get("state").respond(json={"devices": [report_json("plug-1", status=status)]})

    reading = only_status(vendor)

    assert reading.valid_at == NOON
    assert reading.valid_at.utcoffset() == timedelta(hours=-3)


def only_status(vendor: ExampleAPIClient) -> base.StatusReading:
    (report,) = vendor.read_devices(["plug-1"])
    assert report.status is not None
    return report.status


def test_a_push_is_read_as_the_state_it_carries():
    state = {"devices": [report_json("plug-1", online=False)]}

    (report,) = make_client().parse_push(json.dumps(state).encode())

    assert report == base.DeviceReport(
        "plug-1", status=base.StatusReading("plug-1", True, "on", NOON), online=False
    )


@pytest.mark.parametrize("body", [b"", b"{}", b'{"devices": [{"id": 7}]}', b'{"devices": [1]}'])
def test_a_push_the_client_cannot_read_is_malformed(body):
    with pytest.raises(base.MalformedPush):
        make_client().parse_push(body)
