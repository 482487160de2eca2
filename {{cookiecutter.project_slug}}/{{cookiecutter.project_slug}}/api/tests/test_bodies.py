"""Whatever body a client sends, the API answers a 4xx with one line, or stores it safely."""

import json
import math

import pytest
from rest_framework.test import APIClient

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

NESTED = {
    "arrays": "[" * 100_000 + "]" * 100_000,
    "objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
}


def device_body(metadata) -> str:
    """A device's body with this metadata; json.dumps writes NaN and integers of any size."""
    return json.dumps({"name": "Pump", "vendor_device_id": "sim-pump", "metadata": metadata})


def send(client: APIClient, method: str, url: str, body: str):
    return getattr(client, method)(url, body, content_type="application/json")


def assert_one_line_error(response, status_code: int = 400) -> None:
    assert response.status_code == status_code
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail


@pytest.mark.parametrize("body", list(NESTED.values()), ids=list(NESTED))
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_deeply_nested_device_body_is_a_400(client_of, staff, method, body):
    device = DeviceFactory.create()
    url = "/api/devices/" if method == "post" else f"/api/devices/{device.pk}/"

    response = send(client_of(staff), method, url, body)

    assert_one_line_error(response)
    assert "nested deeper than 32 levels" in response.json()["detail"]


@pytest.mark.parametrize("body", list(NESTED.values()), ids=list(NESTED))
def test_a_deeply_nested_command_or_token_body_is_a_400(api, user, body):
    device = DeviceFactory.create(owner=user)

    assert_one_line_error(send(api, "post", f"/api/devices/{device.pk}/commands/", body))
    assert_one_line_error(send(APIClient(), "post", "/api/auth/token/", body))


@pytest.mark.parametrize(("levels", "status_code"), [(32, 201), (33, 400)])
def test_a_body_may_be_nested_32_levels_deep(client_of, staff, levels, status_code):
    # The body and its metadata are two levels; the rest are lists.
    metadata: dict[str, list] = {"x": []}
    for _ in range(levels - 3):
        metadata = {"x": [metadata["x"]]}

    response = send(client_of(staff), "post", "/api/devices/", device_body(metadata))

    assert response.status_code == status_code


def test_a_body_larger_than_the_upload_limit_is_a_413(client_of, staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = send(client_of(staff), "post", "/api/devices/", device_body("x" * 1000))

    assert_one_line_error(response, 413)
    assert not Device.objects.exists()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=str)
def test_nan_and_infinity_are_a_400(client_of, staff, value):
    response = send(client_of(staff), "post", "/api/devices/", device_body({"x": value}))

    assert_one_line_error(response)
    assert "is not a JSON number (send null or a string)" in response.json()["detail"]


@pytest.mark.parametrize(
    "integer", [2**64, -(2**63) - 1, 10**4000], ids=["2**64", "-2**63-1", "10**4000"]
)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_metadata_with_an_integer_beyond_64_bits_is_a_400_naming_where(
    client_of, staff, method, integer
):
    device = DeviceFactory.create(metadata={"serial": 1})
    url = "/api/devices/" if method == "post" else f"/api/devices/{device.pk}/"

    response = send(client_of(staff), method, url, device_body({"ids": [1, integer]}))

    assert response.status_code == 400
    assert response.json() == {
        "metadata": ['Cannot store an integer beyond 64 bits (send it as a string) at ["ids"][1].']
    }
    assert list(Device.objects.values_list("metadata", flat=True)) == [{"serial": 1}]


@pytest.mark.parametrize("integer", [2**64 - 1, -(2**63)])
def test_metadata_with_the_largest_64_bit_integers_is_written_back_as_it_came(
    client_of, staff, integer
):
    client = client_of(staff)

    created = send(client, "post", "/api/devices/", device_body({"serial": integer}))
    url = created.json()["url"]

    assert created.status_code == 201
    assert client.get(url).json()["metadata"] == {"serial": integer}
    assert client.get("/api/devices/").json()["results"][0]["metadata"] == {"serial": integer}


def test_a_device_whose_metadata_skipped_validation_still_lists(client_of, staff):
    # Saved by code, not through a form or the API: orjson cannot write it, DRF's renderer can.
    device = DeviceFactory.create(metadata={"serial": 2**70})
    client = client_of(staff)

    listed = client.get("/api/devices/")
    detail = client.get(f"/api/devices/{device.pk}/")

    assert (listed.status_code, detail.status_code) == (200, 200)
    assert detail.json()["metadata"] == {"serial": 2**70}
