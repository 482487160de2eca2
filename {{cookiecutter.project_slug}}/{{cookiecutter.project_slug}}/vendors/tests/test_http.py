"""HTTPVendorClient for a vendor that reports its errors inside 200 answers, as many clouds do:
error_for() maps them, and callers retry or give up by what it returns."""

from collections.abc import Sequence
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest

from .. import base, http
from ..http import HTTPVendorClient

BASE_URL = "https://cloud.example/v2/"
TOKEN = "key-8c1e07"


class ErrorsInBodyCloud(HTTPVendorClient):
    """A vendor whose every answer is 200: {"isok": true, "data": ...} or {"isok": false,
    "errors": {"<code>": "<message>"}}, and which wants its key in the form body."""

    vendor = "errors_in_body"
    url_setting = "CLOUD_API_URL"
    token_setting = "CLOUD_AUTH_KEY"

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def error_for(self, response: httpx.Response) -> base.VendorError | None:
        body = http.json_body(response)
        if response.is_success and isinstance(body, dict) and body.get("isok") is False:
            errors = body.get("errors") or {}
            message = f"{self.vendor}: {'; '.join(f'{k}: {v}' for k, v in errors.items())}"
            if "unauthorized" in errors:
                return base.AuthenticationFailed(f"{message}: check {self.token_setting}")
            if "device_not_found" in errors:
                return base.UnknownDevice(message)
            if "max_req" in errors:
                return base.RateLimited(message, retry_after=1)
            return base.RequestRejected(message)
        return super().error_for(response)

    def list_devices(self) -> list[base.DeviceInfo]:
        return []

    def read_devices(self, ids: Sequence[str]) -> list[base.DeviceReport]:
        body = self.request("POST", "device/status", data={"auth_key": self.api_token})
        return self.parse(
            body,
            lambda body: [base.DeviceReport(i, online=body["data"][i]["online"]) for i in ids],
            "POST device/status",
        )

    def set_status(self, vendor_device_id: str, is_on: bool) -> None:
        self.request("POST", "device/relay/control", data={"id": vendor_device_id})


def errors_body(**errors: str) -> dict:
    return {"isok": False, "errors": errors}


@pytest.fixture
def cloud():
    client = ErrorsInBodyCloud(base_url=BASE_URL, api_token=TOKEN)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("errors", "error_class"),
    [
        ({"device_not_found": "no device plug-9"}, base.UnknownDevice),
        ({"unauthorized": "wrong key"}, base.AuthenticationFailed),
        ({"bad_request": "no such channel"}, base.RequestRejected),
    ],
)
def test_an_error_inside_a_200_answer_is_permanent(cloud, api, errors, error_class):
    api.post("device/status").respond(200, json=errors_body(**errors))

    with pytest.raises(error_class) as raised:
        cloud.read_devices(["plug-9"])

    assert isinstance(raised.value, base.PermanentVendorError)
    assert next(iter(errors.values())) in str(raised.value)


def test_a_rate_limit_inside_a_200_answer_is_transient(cloud, api):
    api.post("device/status").respond(200, json=errors_body(max_req="slow down"))

    with pytest.raises(base.RateLimited) as raised:
        cloud.read_devices(["plug-1"])

    assert raised.value.retry_after == 1


def test_an_answer_without_errors_is_read(cloud, api):
    route = api.post("device/status").respond(
        200, json={"isok": True, "data": {"plug-1": {"online": False}}}
    )

    assert cloud.read_devices(["plug-1"]) == [base.DeviceReport("plug-1", online=False)]
    assert route.calls.last.request.content == f"auth_key={TOKEN}".encode()


def test_status_codes_still_map_as_the_transport_does(cloud, api):
    api.post("device/status").respond(503, json={"isok": False})

    with pytest.raises(base.VendorUnavailable, match="answered 503"):
        cloud.read_devices(["plug-1"])


def test_a_vendor_that_does_not_echo_the_state_accepts_the_command(cloud, api):
    api.post("device/relay/control").respond(200, json={"isok": True})

    assert cloud.set_status("plug-1", True) is None


def test_a_missing_setting_is_named_by_its_variable():
    cloud = ErrorsInBodyCloud(base_url=BASE_URL, api_token="")

    with pytest.raises(base.ConfigurationError, match="CLOUD_AUTH_KEY is not set"):
        cloud.read_devices(["plug-1"])


@pytest.fixture
def held(monkeypatch) -> list[str]:
    """What the vendor's limiter saw, in order; requests the test's answers add themselves."""
    held: list[str] = []

    @contextmanager
    def call():
        held.append("wait for a place")
        yield
        held.append("free the place")

    limiters = {"errors_in_body": SimpleNamespace(call=call)}
    monkeypatch.setattr(http, "limiter_for", limiters.__getitem__)
    return held


def test_every_request_is_made_within_the_vendors_limits(cloud, api, held):
    def answer(request: httpx.Request) -> httpx.Response:
        held.append("request")
        return httpx.Response(200, json={"isok": True, "data": {}})

    api.post("device/status").mock(side_effect=answer)

    cloud.read_devices([])

    assert held == ["wait for a place", "request", "free the place"]


class TokenAuth(httpx.Auth):
    """OAuth's client credentials, as a client's auth() returns them: a token fetched first."""

    def auth_flow(self, request: httpx.Request):
        token = yield httpx.Request("POST", BASE_URL + "oauth/token")
        request.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield request


class TokenCloud(ErrorsInBodyCloud):
    def auth(self) -> httpx.Auth:
        return TokenAuth()


def test_the_requests_of_an_auth_flow_are_within_the_limits_too(api, held):
    def answer(request: httpx.Request) -> httpx.Response:
        held.append(request.url.path.rsplit("/", 1)[-1])
        return httpx.Response(200, json={"isok": True, "data": {}, "access_token": "t"})

    api.post("oauth/token").mock(side_effect=answer)
    api.post("device/status").mock(side_effect=answer)
    cloud = TokenCloud(base_url=BASE_URL, api_token=TOKEN)

    cloud.read_devices([])

    place = ["wait for a place", "free the place"]
    assert held == [place[0], "token", place[1], place[0], "status", place[1]]
    cloud.close()
