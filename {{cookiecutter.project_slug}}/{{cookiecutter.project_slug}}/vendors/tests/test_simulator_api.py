"""The simulated vendor's REST API: the HTTP vendor client calls it over real loopback HTTP.

These tests are the client's integration tests too: real sockets, status codes and timeouts.
"""

import pytest

from .. import base, models, simulator
from ..{{ cookiecutter.__vendor_module }} import {{ cookiecutter.__vendor_class }}

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
        client = {{ cookiecutter.__vendor_class }}(**options)
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


def test_read_statuses_returns_each_devices_switch_state(vendor, plugs):
    statuses = vendor.read_statuses(["plug-2", "plug-1"])

    assert [s.vendor_device_id for s in statuses] == ["plug-2", "plug-1"]
    assert [s.is_on for s in statuses] == [False, True]
    in_process = simulator.simulated_cloud().read_statuses(["plug-2", "plug-1"])
    assert [s.state for s in statuses] == [s.state for s in in_process]
    assert all(s.valid_at.tzinfo is not None for s in statuses)


def test_read_attributes_returns_the_simulated_readings(vendor, plugs):
    readings = vendor.read_attributes(["plug-1"])

    valid_at = readings[0].valid_at
    assert valid_at.tzinfo is not None
    assert readings == simulator.simulated_attributes("plug-1", True, valid_at)


def test_set_status_switches_the_simulated_device(vendor, plugs):
    status = vendor.set_status("plug-1", False)

    assert (status.vendor_device_id, status.is_on) == ("plug-1", False)
    assert models.SimulatedDevice.objects.get(vendor_device_id="plug-1").is_on is False
    assert [s.is_on for s in vendor.read_statuses(["plug-1"])] == [False]


def test_an_unknown_device_raises_unknown_device(vendor, plugs):
    with pytest.raises(base.UnknownDevice, match="plug-9"):
        vendor.read_statuses(["plug-1", "plug-9"])
    with pytest.raises(base.UnknownDevice, match="plug-9"):
        vendor.read_attributes(["plug-9"])
    with pytest.raises(base.UnknownDevice, match="plug-9"):
        vendor.set_status("plug-9", True)


def test_a_wrong_token_raises_authentication_failed_with_the_simulators_reason(connect, plugs):
    vendor = connect(api_token="not-the-simulator-token")

    # The simulator never repeats a token; keeping one out of messages is tested with canned
    # answers that do, in test_{{ cookiecutter.__vendor_module }}.py.
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
        vendor.read_statuses(["plug-1"])

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
    response = client.get(API_PATH + "status", headers=auth)

    assert response.status_code == 400
    assert "?ids=" in response.json()["error"]


def test_a_read_of_more_than_100_ids_is_400(client, auth):
    ids = ",".join(f"plug-{n}" for n in range(101))

    response = client.get(API_PATH + "readings", {"ids": ids}, headers=auth)

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
