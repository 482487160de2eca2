"""The simulated vendor's REST API: the example HTTP client calls it over real loopback HTTP.

These tests are that client's integration tests too, and vendors/http.py's: real sockets,
status codes and timeouts. They use example_api.py, never the team's own vendor file.
"""

import pytest

from .. import base, models, simulator
from ..example_api import ExampleAPIClient

API_PATH = "/vendor-simulator/v1/"


@pytest.fixture(autouse=True)
def simulator_options(settings):
    """Set the simulator's knobs for one test; they start at their defaults, whatever .env says.

    Replacing settings.VENDORS (rather than changing it in place) makes the simulator rebuild
    its cloud, and the settings fixture puts the old one back afterwards.
    """

    def configure(**options):
        simulator_vendor = {**settings.VENDORS["simulator"], "OPTIONS": options}
        settings.VENDORS = {**settings.VENDORS, "simulator": simulator_vendor}

    configure()
    return configure


@pytest.fixture
def plugs(transactional_db):
    return [
        models.SimulatedDevice.objects.create(
            vendor_device_id="plug-1", name="Kitchen", is_on=True
        ),
        models.SimulatedDevice.objects.create(
            vendor_device_id="plug-2", name="Garage", is_on=False
        ),
    ]


@pytest.fixture
def connect(live_server, settings):
    """Build vendor clients that call the simulator on the live server."""
    clients = []

    def connect(**options):
        options = {
            "base_url": live_server.url + API_PATH,
            "api_token": settings.SIMULATOR_API_TOKEN,
            "timeout": 5.0,
        } | options
        client = ExampleAPIClient(**options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def vendor(connect):
    return connect()


@pytest.fixture
def auth(settings):
    return {"Authorization": f"Bearer {settings.SIMULATOR_API_TOKEN}"}


def test_list_devices_returns_the_simulated_devices(vendor, plugs):
    devices = vendor.list_devices()

    assert [d.vendor_device_id for d in devices] == ["plug-1", "plug-2"]
    assert devices == simulator.simulated_cloud().list_devices()


def test_read_devices_reports_what_the_simulated_cloud_says_in_one_request(vendor, plugs):
    reports = vendor.read_devices(["plug-2", "plug-1"])

    assert reports == simulator.simulated_cloud().read_devices(["plug-2", "plug-1"])
    assert [(r.vendor_device_id, r.online) for r in reports] == [("plug-2", True), ("plug-1", True)]
    assert [r.status.is_on if r.status else None for r in reports] == [False, True]
    valid_at = reports[1].readings[0].valid_at
    assert valid_at.tzinfo is not None
    assert list(reports[1].readings) == simulator.simulated_attributes("plug-1", True, valid_at)


def test_a_sensor_and_an_offline_device_read_as_the_simulated_cloud_has_them(vendor, plugs):
    models.SimulatedDevice.objects.filter(vendor_device_id="plug-1").update(can_switch=False)
    models.SimulatedDevice.objects.filter(vendor_device_id="plug-2").update(online=False)

    (sensor, _) = vendor.list_devices()
    reports = vendor.read_devices(["plug-1", "plug-2"])

    assert (sensor.can_switch, sensor.reading_names) == (False, ("temperature",))
    assert reports[1] == base.DeviceReport("plug-2", online=False)
    assert reports[0].status is None
    with pytest.raises(base.RequestRejected, match="answered 409"):
        vendor.set_status("plug-1", True)


def test_set_status_switches_the_simulated_device(vendor, plugs):
    status = vendor.set_status("plug-1", False)

    assert (status.vendor_device_id, status.is_on) == ("plug-1", False)
    assert models.SimulatedDevice.objects.get(vendor_device_id="plug-1").is_on is False
    (report,) = vendor.read_devices(["plug-1"])
    assert report.status == status


def test_an_unknown_device_raises_unknown_device(vendor, plugs):
    with pytest.raises(base.UnknownDevice, match="plug-9"):
        vendor.read_devices(["plug-1", "plug-9"])
    with pytest.raises(base.UnknownDevice, match="plug-9"):
        vendor.set_status("plug-9", True)


def test_a_base_url_that_is_not_the_api_raises_a_configuration_error(connect, live_server, plugs):
    # The project's own server, one level too high: its 404 is a page, not the API's error.
    vendor = connect(base_url=live_server.url + "/vendor-simulator/")

    with pytest.raises(base.ConfigurationError, match="not the vendor's API: check base_url"):
        vendor.read_devices(["plug-1"])


def test_a_wrong_token_raises_authentication_failed_with_the_simulators_reason(connect, plugs):
    vendor = connect(api_token="not-the-simulator-token")

    # The simulator never repeats a token; keeping one out of messages is tested with canned
    # answers that do, in test_http.py.
    with pytest.raises(base.AuthenticationFailed, match="answered 401: missing or wrong token"):
        vendor.list_devices()


def test_a_simulated_server_error_raises_vendor_unavailable(vendor, plugs, simulator_options):
    simulator_options(error_rate=1.0)

    with pytest.raises(base.VendorUnavailable, match="answered 503"):
        vendor.list_devices()


def test_too_many_concurrent_calls_raise_rate_limited_with_retry_after(
    vendor, plugs, simulator_options
):
    simulator_options(max_concurrent_calls=1, retry_after=7)

    # This test's own call holds the only slot, as a concurrent request would.
    with simulator.simulated_cloud().call(), pytest.raises(base.RateLimited) as raised:
        vendor.read_devices(["plug-1"])

    assert raised.value.retry_after == 7.0


def test_a_simulated_timeout_longer_than_the_client_timeout_raises_vendor_timeout(
    connect, plugs, simulator_options
):
    simulator_options(timeout_rate=1.0, timeout=1.0)
    vendor = connect(timeout=0.2)

    with pytest.raises(base.VendorTimeout):
        vendor.list_devices()


def test_a_request_without_a_token_is_401_with_a_json_error(client):
    response = client.get(API_PATH + "devices")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["error"]


def test_a_read_without_ids_is_400(client, auth):
    response = client.get(API_PATH + "state", headers=auth)

    assert response.status_code == 400
    assert "?ids=" in response.json()["error"]


def test_a_read_of_more_than_100_ids_is_400(client, auth):
    ids = ",".join(f"plug-{n}" for n in range(101))

    response = client.get(API_PATH + "state", {"ids": ids}, headers=auth)

    assert response.status_code == 400
    assert "at most 100" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"on, please",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"is_on": "yes"}',
        b'{"is_on": 1}',
        b'{"is_on": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"is_on":' * 100_000 + b"true" + b"}" * 100_000,
    ],
)
def test_a_put_without_a_boolean_is_on_is_400(client, auth, body):
    response = client.put(
        API_PATH + "devices/plug-1/status", body, content_type="application/json", headers=auth
    )

    assert response.status_code == 400
    assert '{"is_on": true}' in response.json()["error"]


def test_a_wrong_method_is_405_naming_the_right_one(client, auth):
    response = client.post(API_PATH + "devices", headers=auth)

    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_a_simulated_timeout_is_answered_504(client, auth, simulator_options):
    simulator_options(timeout_rate=1.0, timeout=0.01)

    response = client.get(API_PATH + "devices", headers=auth)

    assert response.status_code == 504


def test_429_carries_retry_after_in_whole_seconds_rounded_up(client, auth, simulator_options):
    simulator_options(max_concurrent_calls=1, retry_after=1.5)

    with simulator.simulated_cloud().call():
        response = client.get(API_PATH + "devices", headers=auth)

    assert response.status_code == 429
    assert response["Retry-After"] == "2"
