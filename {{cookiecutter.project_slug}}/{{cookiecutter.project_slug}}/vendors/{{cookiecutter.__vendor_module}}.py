"""{{ cookiecutter.vendor_name }}'s API client, over HTTP.

This is the file to change when you connect the project to your vendor. As generated, it speaks
a small example REST API, the one the simulator serves at /vendor-simulator/v1/ (local and test
settings), so it works before you have credentials and its tests run on real sockets:

    GET devices               -> {"devices": [{"id", "name", "metadata"}]}
    GET status?ids=a,b,c      -> {"statuses": [{"id", "is_on", "state", "timestamp"}]}
    GET readings?ids=a,b,c    -> {"readings": [{"id", "name", "value", "units", "timestamp"}]}
    PUT devices/<id>/status   {"is_on": true} -> {"id", "is_on", "state", "timestamp"}

Every request sends "Authorization: Bearer <token>"; bodies are JSON; timestamps are ISO 8601
with an offset; a read carries at most 100 ids. Errors: 401/403 bad token, 404 unknown device,
429 too many requests (Retry-After in seconds), any other 4xx a refused request, 5xx the
vendor's own trouble.

To point it at your vendor:
1. Set, in the environment (.env locally):
       {{ cookiecutter.__vendor_module.upper() }}_API_URL       the base URL of the vendor's API
       {{ cookiecutter.__vendor_module.upper() }}_API_TOKEN     the token the vendor gave you
       {{ cookiecutter.__vendor_module.upper() }}_API_TIMEOUT   seconds per request (default 10)
2. Change the paths and parameters in the public methods, and the parse_* functions, to the
   vendor's endpoints and JSON.
3. A vendor that authenticates otherwise (OAuth, signed requests) needs another `auth` for the
   httpx.Client in __init__: an httpx.Auth subclass.
4. Set batch_size (the default of __init__, or "batch_size" in this vendor's OPTIONS in
   settings.VENDORS) to how many ids one read may carry: 1 when there is no batch endpoint.
5. Keep the mapping from HTTP outcomes to errors in _send: it decides between retrying later
   and giving up, for every caller.
Then replace the canned responses in tests/test_{{ cookiecutter.__vendor_module }}.py with
examples from the vendor's documentation.

A success whose body is not what the parse_* functions expect (not JSON, a missing field, a
wrong type) raises VendorUnavailable, a transient error: in practice it is a glitch, such as a
proxy's HTML page or a truncated body, that a retry fixes. Should the vendor have changed its
API instead, the retries run out and the failure is reported like any other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .base import (
    AttributeReading,
    AuthenticationFailed,
    DeviceInfo,
    PermanentVendorError,
    RateLimited,
    RequestRejected,
    StatusReading,
    UnknownDevice,
    VendorClient,
    VendorTimeout,
    VendorUnavailable,
)

VENDOR = "{{ cookiecutter.__vendor_module }}"
URL_SETTING = "{{ cookiecutter.__vendor_module.upper() }}_API_URL"
TOKEN_SETTING = "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN"

Parsed = TypeVar("Parsed")


class {{ cookiecutter.__vendor_class }}(VendorClient):
    """The vendor's cloud through its REST API; registry.py keeps one per process.

    The client owns one connection pool, shared by the threads that use it. Every call either
    returns readings or raises one of the errors of base.py; the token never appears in them.
    """

    def __init__(self, base_url: str, api_token: str, timeout: float = 10.0, batch_size: int = 100):
        self.batch_size = batch_size
        self._base_url = base_url
        self._api_token = api_token
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_token}", "Accept": "application/json"},
            # The same limit for connecting, sending, waiting for the answer and waiting for a
            # free connection in the pool: no call can hang a worker.
            timeout=httpx.Timeout(timeout),
        )

    def list_devices(self) -> list[DeviceInfo]:
        return self._call("GET", "devices", parse_devices)

    def read_statuses(self, vendor_device_ids: Sequence[str]) -> list[StatusReading]:
        return self._read("status", vendor_device_ids, parse_statuses)

    def read_attributes(self, vendor_device_ids: Sequence[str]) -> list[AttributeReading]:
        return self._read("readings", vendor_device_ids, parse_readings)

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading:
        # quote(): an id may hold characters with a meaning in URLs, a "/" among them.
        path = f"devices/{quote(vendor_device_id, safe='')}/status"
        return self._call("PUT", path, parse_status, json={"is_on": is_on})

    def close(self) -> None:
        self._http.close()

    def _read(
        self,
        path: str,
        vendor_device_ids: Sequence[str],
        parse: Callable[[Any], list[Parsed]],
    ) -> list[Parsed]:
        # Callers pass at most batch_size ids; splitting a longer list anyway turns what would
        # be a 400 into more requests.
        results = []
        for start in range(0, len(vendor_device_ids), self.batch_size):
            batch = vendor_device_ids[start : start + self.batch_size]
            results += self._call("GET", path, parse, params={"ids": ",".join(batch)})
        return results

    def _call(
        self, method: str, path: str, parse: Callable[[Any], Parsed], **request: Any
    ) -> Parsed:
        """Send one request and parse the body of its successful response."""
        response = self._send(method, path, **request)
        try:
            return parse(response.json())
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise VendorUnavailable(
                f"{VENDOR}: {method} {path} answered {response.status_code} with an unexpected "
                f"body ({unexpected_body(error)}): change the parse_* functions if the API changed"
            ) from error

    def _send(self, method: str, path: str, **request: Any) -> httpx.Response:
        """Send one request; return a successful response or raise the error that fits."""
        if not self._base_url:
            raise PermanentVendorError(
                f"{VENDOR}: {URL_SETTING} is not set: set it to the base URL of the vendor's API"
            )
        if not self._api_token:
            raise PermanentVendorError(
                f"{VENDOR}: {TOKEN_SETTING} is not set: set it to the token the vendor gave you"
            )
        what = f"{VENDOR}: {method} {path}"
        try:
            response = self._http.request(method, path, **request)
        except httpx.TimeoutException as error:
            raise VendorTimeout(f"{what}: no answer within {self._timeout:g} s") from error
        except httpx.UnsupportedProtocol as error:
            raise PermanentVendorError(
                f"{what}: {URL_SETTING} must start with https:// or http://"
            ) from error
        except httpx.TransportError as error:
            reason = self._redact(" ".join(str(error).split())) or type(error).__name__
            raise VendorUnavailable(f"{what} failed: {reason}") from error

        status = response.status_code
        if response.is_success:
            return response
        message = f"{what} answered {status}{self._vendor_message(response)}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(message, retry_after=retry_after)
        if status >= 500:
            raise VendorUnavailable(message)
        if status in (401, 403):
            raise AuthenticationFailed(f"{message}: check {TOKEN_SETTING}")
        if status == 404:
            raise UnknownDevice(message)
        # Any other 4xx, and redirects, which the example API never sends.
        raise RequestRejected(message)

    def _vendor_message(self, response: httpx.Response) -> str:
        """The vendor's own explanation of an error, on one line, or nothing."""
        try:
            message = response.json()["error"]
        except (KeyError, TypeError, ValueError):
            return ""
        if not isinstance(message, str) or not message.strip():
            return ""
        return ": " + self._redact(" ".join(message.split()))[:200]

    def _redact(self, text: str) -> str:
        # Some APIs quote the credentials they refused; messages end up in logs and mails.
        return text.replace(self._api_token, "[token]") if self._api_token else text


def parse_devices(body: Any) -> list[DeviceInfo]:
    return [
        DeviceInfo(
            vendor_device_id=string(item, "id"),
            name=string(item, "name"),
            metadata=mapping(item, "metadata"),
        )
        for item in body["devices"]
    ]


def parse_statuses(body: Any) -> list[StatusReading]:
    return [parse_status(item) for item in body["statuses"]]


def parse_status(item: Any) -> StatusReading:
    return StatusReading(
        vendor_device_id=string(item, "id"),
        is_on=boolean(item, "is_on"),
        state=string(item, "state"),
        valid_at=timestamp(item, "timestamp"),
    )


def parse_readings(body: Any) -> list[AttributeReading]:
    return [
        AttributeReading(
            vendor_device_id=string(item, "id"),
            name=string(item, "name"),
            value=number(item, "value"),
            units=string(item, "units"),
            valid_at=timestamp(item, "timestamp"),
        )
        for item in body["readings"]
    ]


def string(item: Any, field: str) -> str:
    value = item[field]
    if not isinstance(value, str):
        raise TypeError(f"{field} is {type(value).__name__}, not a string")
    return value


def boolean(item: Any, field: str) -> bool:
    value = item[field]
    if not isinstance(value, bool):
        raise TypeError(f"{field} is {type(value).__name__}, not true or false")
    return value


def number(item: Any, field: str) -> float:
    value = item[field]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field} is {type(value).__name__}, not a number")
    return float(value)


def mapping(item: Any, field: str) -> dict:
    value = item.get(field, {})
    if not isinstance(value, dict):
        raise TypeError(f"{field} is {type(value).__name__}, not an object")
    return value


def timestamp(item: Any, field: str) -> datetime:
    moment = datetime.fromisoformat(string(item, field))
    # The API promises an offset; one without is read as UTC, never as this server's local time.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def unexpected_body(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return "not JSON"
    if isinstance(error, KeyError):
        return f"no {error} field"
    return str(error)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a Retry-After header: a number of seconds or an HTTP date.

    None when the header is absent or unreadable: the caller then uses its own backoff.
    """
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            until = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if until.tzinfo is None:  # "-0000": HTTP dates are always GMT
            until = until.replace(tzinfo=UTC)
        return max((until - (now or datetime.now(UTC))).total_seconds(), 0.0)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
