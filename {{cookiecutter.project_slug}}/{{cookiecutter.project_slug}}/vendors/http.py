"""The transport every vendor with an HTTP API shares.

HTTPVendorClient owns one httpx client (a connection pool, shared by the threads that use it)
and does, for every request of every such vendor: the timeout, the credentials, the vendor's
limits (vendors/limits.py), the redaction of the token from messages, and the mapping of each
answer to the errors of base.py. A vendor's client then only names its settings, builds its
requests and parses its bodies:

    class AcmeCloud(HTTPVendorClient):
        vendor = "acme_cloud"  # its key in settings.VENDORS: its limits, and its name in errors
        url_setting = "ACME_CLOUD_API_URL"  # the variables errors tell a person to fix
        token_setting = "ACME_CLOUD_API_TOKEN"
        batch_size = 50  # ids one read may carry (1: no batch endpoint)

        def list_devices(self) -> list[DeviceInfo]:
            body = self.request("GET", "devices")
            return [DeviceInfo(item["id"], item["name"], {}) for item in body["devices"]]

Credentials: by default every request carries "Authorization: Bearer <token>"; override
headers() for another header, return an httpx.Auth from auth() for signed requests (or OAuth),
or put self.api_token into the body of each request for a vendor that wants the key there.

Outcomes are mapped in one method, error_for(response), which looks at the status and the body:
a vendor that reports errors inside 200 answers overrides it (see its docstring). A parser that
finds a body it does not understand raises UnexpectedBody (parse() does it for you).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from .base import (
    AuthenticationFailed,
    ConfigurationError,
    RateLimited,
    RequestRejected,
    UnknownDevice,
    VendorClient,
    VendorError,
    VendorTimeout,
    VendorUnavailable,
)
from .limits import limiter_for

Parsed = TypeVar("Parsed")
# What json_body() returns for a body that is not JSON (JSON's own null is None).
NOT_JSON = object()


class HTTPVendorClient(VendorClient):
    """A vendor's cloud through its HTTP API; registry.py keeps one per process.

    Every call either returns what the vendor said or raises one of the errors of base.py; the
    token never appears in them.
    """

    # The vendor's key in settings.VENDORS.
    vendor = "http"
    # What a person sets to fix the base URL or the token: the environment variables, in a
    # client whose entry in settings.VENDORS reads them.
    url_setting = "base_url"
    token_setting = "api_token"

    def __init__(
        self,
        base_url: str = "",
        api_token: str = "",
        timeout: float = 10.0,
        batch_size: int | None = None,
        webhook_secret: str = "",
{%- if cookiecutter.use_mqtt %}
        mqtt_topic: str = "",
{%- endif %}
    ):
        if batch_size is not None:
            self.batch_size = batch_size
        self.webhook_secret = webhook_secret
{%- if cookiecutter.use_mqtt %}
        self.mqtt_topic = mqtt_topic
{%- endif %}
        self.base_url = base_url
        self.api_token = api_token
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=base_url,
            headers=self.headers(),
            auth=WithinLimits(self.vendor, self.auth()),
            # The same limit for connecting, sending, waiting for the answer and waiting for a
            # free connection in the pool: no call can hang a worker.
            timeout=httpx.Timeout(timeout),
        )

    def headers(self) -> dict[str, str]:
        """Headers every request carries; the default authenticates with a bearer token."""
        return {"Authorization": f"Bearer {self.api_token}", "Accept": "application/json"}

    def auth(self) -> httpx.Auth | None:
        """An httpx.Auth for a vendor whose requests are signed, or that uses OAuth."""
        return None

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **request: Any) -> Any:
        """Send one request, within the vendor's limits; return its body, parsed from JSON, or
        raise the error that error_for() finds in the answer.

        `path` is relative to the base URL; `request` goes to httpx (params, json, data...).
        """
        self._check_configured()
        what = f"{self.vendor}: {method} {path}"
        try:
            response = self._http.request(method, path, **request)
        except httpx.TimeoutException as error:
            raise VendorTimeout(f"{what}: no answer within {self.timeout:g} s") from error
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise ConfigurationError(
                f"{what}: {self.url_setting} must be a URL starting with https:// or http://"
            ) from error
        except httpx.TransportError as error:
            # Refused connections and failed DNS lookups end here: transient, as an outage of
            # the vendor (or of the network) looks the same from this side.
            reason = self.redact(" ".join(str(error).split())) or type(error).__name__
            raise VendorUnavailable(f"{what} failed: {reason}") from error
        failure = self.error_for(response)
        if failure is not None:
            raise failure
        return json_body(response)

    def error_for(self, response: httpx.Response) -> VendorError | None:
        """The error an answer stands for, or None for a success whose body is JSON.

        The one place where answers are mapped to errors, for every call of the client; what it
        returns decides between retrying later (transient) and giving up (permanent):
        - 429: RateLimited, waiting as long as Retry-After says; 5xx: VendorUnavailable.
        - 401, 403: AuthenticationFailed, never retried.
        - 404 with the API's own error body (a JSON object): UnknownDevice. A 404 without one
          (an HTML page, an empty body) comes from a server that is not the API: a
          ConfigurationError naming url_setting, which fails the whole job at once rather than
          every device one by one.
        - any other 4xx (and a redirect): RequestRejected.
        - a success whose body is not JSON is not the API either: a ConfigurationError.

        Override it for a vendor whose answers say more, and call super() for the rest. A vendor
        that reports errors inside 200 answers, say {"isok": false, "errors": {...}}, maps those
        errors first: AuthenticationFailed for a bad key, UnknownDevice for an unknown device,
        RequestRejected for other refusals, a TransientVendorError for its own trouble.
        """
        status = response.status_code
        body = json_body(response)
        what = f"{self.vendor}: {response.request.method} {self.path_of(response)}"
        if response.is_success:
            if body is NOT_JSON:
                return ConfigurationError(
                    f"{what} answered {status} with a body that is not JSON: check that "
                    f"{self.url_setting} ({self.shown_url()}) is the base URL of the vendor's API"
                )
            return None
        message = f"{what} answered {status}{self.vendor_message(body)}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(message, retry_after=retry_after)
        if status >= 500:
            return VendorUnavailable(message)
        if status in (401, 403):
            return AuthenticationFailed(f"{message}: check {self.token_setting}")
        if status == 404:
            if not isinstance(body, dict):
                return ConfigurationError(
                    f"{message} from a server that is not the vendor's API: "
                    f"check {self.url_setting} ({self.shown_url()})"
                )
            return UnknownDevice(message)
        return RequestRejected(message)

    def shown_url(self) -> str:
        """The base URL as a message shows it, for a person to see where the calls went (a
        default of local settings, say): no user, password, query or fragment, which may hold
        a credential."""
        parts = urlsplit(self.base_url)
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, f"{parts.hostname or ''}{port}", parts.path, "", ""))

    def vendor_message(self, body: Any) -> str:
        """The vendor's own explanation in an error body, on one line, or nothing; the default
        reads {"error": "..."}."""
        message = body.get("error") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        return ": " + self.redact(" ".join(message.split()))[:200]

    def parse(self, body: Any, parser: Callable[[Any], Parsed], what: str) -> Parsed:
        """parser(body), or a ConfigurationError saying which part of `what` (a request) the
        body lacks: a body other than the parsers expect means the API is not the one they
        were written for, and retrying will not change it."""
        try:
            return parser(body)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            raise ConfigurationError(
                f"{self.vendor}: {what} answered with an unexpected body "
                f"({unexpected_body(error)}): change the client's parsers if the API changed"
            ) from error

    def redact(self, text: str) -> str:
        # Some APIs quote the credentials they refused; messages end up in logs and mails.
        return text.replace(self.api_token, "[token]") if self.api_token else text

    def path_of(self, response: httpx.Response) -> str:
        """The request's path below the base URL, without its query (which may hold a key)."""
        path = response.request.url.path
        prefix = httpx.URL(self.base_url).path if self.base_url else ""
        return path[len(prefix) :] if prefix and path.startswith(prefix) else path

    def _check_configured(self) -> None:
        if not self.base_url:
            raise ConfigurationError(
                f"{self.vendor}: {self.url_setting} is not set: "
                "set it to the base URL of the vendor's API"
            )
        if not self.api_token:
            raise ConfigurationError(
                f"{self.vendor}: {self.token_setting} is not set: "
                "set it to the token the vendor gave you"
            )


class WithinLimits(httpx.Auth):
    """Every HTTP request of a client within its vendor's limits (vendors/limits.py): the
    client's own, and those its auth() sends on its behalf (a token fetched, a request sent
    again after a 401), which the vendor counts all the same. Wraps the client's auth, which
    httpx runs around every request, whatever transport or proxy carries it."""

    # A request holds its place until its answer has arrived whole.
    requires_response_body = True

    def __init__(self, vendor: str, auth: httpx.Auth | None):
        self.vendor = vendor
        self.auth = auth or httpx.Auth()  # httpx.Auth itself sends the request as it is

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth.sync_auth_flow(request)
        request = next(flow)
        while True:
            with limiter_for(self.vendor).call():
                response = yield request
            try:
                request = flow.send(response)
            except StopIteration:
                return


def json_body(response: httpx.Response) -> Any:
    """The answer's body parsed from JSON, or NOT_JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return NOT_JSON


def unexpected_body(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no {error} field"
    return str(error) or type(error).__name__


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
