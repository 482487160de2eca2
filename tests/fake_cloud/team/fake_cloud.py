"""Fake Cloud's cloud API client.

The API, as its documentation gives it:

    POST devices/list                  -> {"isok": true, "data": {"devices": {"<id>": {"name",
                                              "model", "relays", "sensors": ["<name>", ...]}}}}
    POST device/status         id      -> {"isok": true, "data": {"online": bool,
                                              "device_status": {"updated", "relays": [{"ison"}],
                                                                "sensors": {"<name>": int}}}}
    POST device/relay/control  id,turn -> {"isok": true}
    webhook push (ours)                -> {"event": "status", "id", "data": <as device/status>},
                                          X-Fake-Signature: base64 of HMAC-SHA256 of the body

Every request is a form that carries the account's key (key=...); every answer is HTTP 200,
errors included: {"isok": false, "errors": {"<code>": "<text>"}}. A status call reads one
device. A switch is accepted without the new state: a later read shows it. "updated" is seconds
since 1970; temperatures come in tenths of a degree Celsius, humidity in percent.

Its settings are in settings.VENDORS, .env.example and app.json, read from these environment
variables (their names start with FAKE_CLOUD_):
    API_URL, API_TOKEN        the base URL of its API, the key it gave you (both required in
                              production)
    API_TIMEOUT               seconds a request may take (10)
    MAX_CALLS_AT_ONCE         the vendor's limits, which every call keeps (0: none); it allows
    MAX_REQUESTS_PER_SECOND   one request a second
    WEBHOOK_SECRET            the secret its pushes are signed with

The transport is http.HTTPVendorClient's: timeouts, credentials, the vendor's limits, the token
kept out of messages, and error_for(), which makes each answer a success or one of the errors
of base.py. This class builds the requests and reads the answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx

from .base import (
    AttributeReading,
    AuthenticationFailed,
    DeviceInfo,
    DeviceReport,
    RateLimited,
    RequestRejected,
    StatusReading,
    UnknownDevice,
    VendorError,
    pushed_json,
)
from .http import HTTPVendorClient, json_body
from .signing import ForgedPush, UnsignedPush, matches

# The sensors the vendor reports: their units, and how many of its whole numbers make one.
SENSORS = {"temperature": ("°C", 10), "humidity": ("%", 1)}


class FakeCloudClient(HTTPVendorClient):
    """The vendor's cloud through its HTTP API; registry.py keeps one per process."""

    vendor = "fake_cloud"
    url_setting = "FAKE_CLOUD_API_URL"
    token_setting = "FAKE_CLOUD_API_TOKEN"
    # One device per status call.
    batch_size = 1

    def headers(self) -> dict[str, str]:
        # The key travels in each request's form, not in a header.
        return {"Accept": "application/json"}

    def error_for(self, response: httpx.Response) -> VendorError | None:
        body = json_body(response)
        if not (isinstance(body, dict) and body.get("isok") is False):
            return super().error_for(response)
        errors = body.get("errors")
        codes = errors if isinstance(errors, dict) else {}
        said = "; ".join(f"{code}: {text}" for code, text in codes.items()) or "no reason given"
        message = self.redact(f"{self.vendor}: {self.path_of(response)} refused: {said}")
        if "key" in codes:
            return AuthenticationFailed(f"{message}: check {self.token_setting}")
        if "device_not_found" in codes:
            return UnknownDevice(message)
        if "max_req" in codes:
            # Its limit is per second: a second later, the request is welcome again.
            return RateLimited(message, retry_after=1.0)
        return RequestRejected(message)

    def list_devices(self) -> list[DeviceInfo]:
        body = self.request("POST", "devices/list", data={"key": self.api_token})
        return self.parse(body, parse_devices, "POST devices/list")

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        # batch_size is 1: the jobs ask for one device at a time.
        return [self.read_device(vendor_device_id) for vendor_device_id in vendor_device_ids]

    def read_device(self, vendor_device_id: str) -> DeviceReport:
        form = {"key": self.api_token, "id": vendor_device_id}
        body = self.request("POST", "device/status", data=form)
        return self.parse(body, partial(parse_report, vendor_device_id), "POST device/status")

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading | None:
        form = {"key": self.api_token, "id": vendor_device_id, "turn": "on" if is_on else "off"}
        self.request("POST", "device/relay/control", data=form)
        # The vendor does not say the new state: a later read confirms the command.
        return None

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> str:
        # The vendor signs the body alone, with no time: the same push received again is
        # stored once, and there is no stale one to refuse.
        signature = headers.get("X-Fake-Signature", "")
        if not signature:
            raise UnsignedPush("X-Fake-Signature")
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()
        if not matches(signature, base64.b64encode(digest).decode()):
            raise ForgedPush("X-Fake-Signature does not match the body")
        return signature

    def parse_push(self, body: bytes) -> list[DeviceReport]:
        return pushed_json(body, lambda push: [parse_report(str(push["id"]), push)])


def parse_devices(body: Any) -> list[DeviceInfo]:
    return [
        DeviceInfo(
            vendor_device_id=vendor_device_id,
            name=str(item["name"]),
            metadata={"model": str(item["model"])},
            # A sensor has no relay: the project offers no switch for it.
            can_switch=int(item["relays"]) > 0,
            reading_names=tuple(sorted(str(name) for name in item["sensors"])),
        )
        for vendor_device_id, item in body["data"]["devices"].items()
    ]


def parse_report(vendor_device_id: str, body: Any) -> DeviceReport:
    data = body["data"]
    status = data["device_status"]
    valid_at = datetime.fromtimestamp(number(status["updated"]), UTC)
    relays = status["relays"]
    return DeviceReport(
        vendor_device_id=vendor_device_id,
        status=parse_relay(vendor_device_id, relays[0], valid_at) if relays else None,
        readings=tuple(
            parse_sensor(vendor_device_id, name, value, valid_at)
            for name, value in status["sensors"].items()
        ),
        online=boolean(data["online"]),
    )


def parse_relay(vendor_device_id: str, relay: Any, valid_at: datetime) -> StatusReading:
    is_on = boolean(relay["ison"])
    return StatusReading(vendor_device_id, is_on, "on" if is_on else "off", valid_at)


def parse_sensor(
    vendor_device_id: str, name: str, value: Any, valid_at: datetime
) -> AttributeReading:
    units, per_unit = SENSORS[name]
    return AttributeReading(vendor_device_id, name, number(value) / per_unit, units, valid_at)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not true or false")
    return value


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)
