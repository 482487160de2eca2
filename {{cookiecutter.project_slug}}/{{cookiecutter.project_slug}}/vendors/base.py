"""The one interface the rest of the project uses to talk to a vendor's cloud.

A vendor client lists the devices of an account, reads what they report and switches them.
Everything it returns is plain data stamped with the vendor's own timestamp; everything that goes
wrong is one of the errors below, so callers decide between "try again later" and "give up"
without knowing which vendor they talk to.

Connecting a real vendor, in short:
1. A vendor with an HTTP API: subclass vendors.http.HTTPVendorClient, which owns the transport
   (timeouts, credentials, limits, the mapping of answers to the errors below); the client then
   only names its settings, builds requests and parses bodies. vendors/example_api.py is one.
2. list_devices: what the account holds, with what each device can do (can_switch,
   reading_names).
3. read_devices: a DeviceReport per device (status, readings, and the vendor's word on its
   connection when it gives one), in one request where the vendor answers all of it at once,
   else in the few requests it needs; at most `batch_size` ids per call.
4. set_status: the status the vendor confirms, or None when it accepts the command without
   saying the new state; a later read then confirms it.
5. Errors: transient ones are retried with backoff, permanent ones never. A ConfigurationError
   (or AuthenticationFailed) is the client's setup, not a device's: it fails the whole job.
6. A vendor that pushes (webhooks): parse_push reads a body it sent into the same DeviceReports
   a read returns, each naming its device; the vendor's webhook_secret setting turns its
   endpoint, /webhooks/<vendor>/, on. verify_push checks first that a push is the vendor's:
   by default with the scheme of vendors/signing.py; a vendor that signs another way
   overrides it.
{%- if cookiecutter.use_mqtt %}
   A vendor that publishes to an MQTT broker names the topic in its mqtt_topic setting (a
   filter such as acme/+/state may stand for many); `manage.py consume_mqtt` subscribes to it
   and reads each message with the same parse_push (interactions/consumer.py).
{%- endif %}
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..safejson import UnsafeJSON, loads
from . import signing


@dataclass(frozen=True)
class AttributeReading:
    """A numeric reading, such as a temperature, as the vendor reported it."""

    vendor_device_id: str
    name: str
    value: float
    units: str
    valid_at: datetime


@dataclass(frozen=True)
class StatusReading:
    """Whether a device is on, and the vendor's own word for its state."""

    vendor_device_id: str
    is_on: bool
    state: str
    valid_at: datetime


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the vendor lists it, with what it can do."""

    vendor_device_id: str
    name: str
    metadata: dict
    # A sensor cannot be switched: no switch is offered and a command to it is refused.
    can_switch: bool = True
    reading_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceReport:
    """What the vendor says of one device in one read."""

    vendor_device_id: str
    status: StatusReading | None = None
    readings: tuple[AttributeReading, ...] = ()
    # The vendor's own word on the device's connection; None when the vendor does not say.
    online: bool | None = None


class VendorError(Exception):
    """Anything that went wrong talking to a vendor."""


class TransientVendorError(VendorError):
    """Worth trying again later: a timeout, a lost connection, a 5xx, a rate limit."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        # Seconds the vendor asked us to wait (429 Retry-After), if it said.
        self.retry_after = retry_after


class VendorTimeout(TransientVendorError):
    pass


class VendorUnavailable(TransientVendorError):
    """The vendor could not be reached, or answered with a server error."""


class RateLimited(TransientVendorError):
    """The vendor answered 429: too many requests."""


class PermanentVendorError(VendorError):
    """Trying again will not help: bad credentials, an unknown device, a refused request."""


class AuthenticationFailed(PermanentVendorError):
    pass


class ConfigurationError(PermanentVendorError):
    """The client is set up wrong (a missing credential, a base URL that is not the API): no
    device can be reached, so the whole job fails, with one line naming the setting to fix."""


class UnknownDevice(PermanentVendorError):
    pass


class RequestRejected(PermanentVendorError):
    """The vendor refused the request (a 4xx other than auth, not found or rate limit)."""


class PushNotSupported(PermanentVendorError):
    """The vendor does not push: its client has no parse_push."""


class MalformedPush(ValueError):
    """A pushed body the client cannot read; the message says what is wrong with it."""


class VendorClient(ABC):
    """A vendor's cloud API, seen through the calls this project needs.

    Reads take many device ids at once; `batch_size` says how many one call may carry (1 for a
    vendor without batch endpoints; the caller splits larger lists). Implementations own their
    connections and give every call a timeout.
    """

    batch_size: int = 1
    # The secret the vendor signs its pushes with; empty: it does not push, or not to us.
    webhook_secret: str = ""
{%- if cookiecutter.use_mqtt %}
    # The MQTT topic (or topic filter) the vendor publishes its pushes to; empty: none.
    mqtt_topic: str = ""
{%- endif %}

    @abstractmethod
    def list_devices(self) -> list[DeviceInfo]:
        """Every device this account can see."""

    @abstractmethod
    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        """What the vendor says of each device now (at most `batch_size` ids): one report per
        device it answered for; an id it does not know raises UnknownDevice."""

    @abstractmethod
    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading | None:
        """Switch a device on or off; return the status the vendor confirms, or None when the
        vendor accepted the request without saying the new state (a later read confirms it)."""

    def parse_push(self, body: bytes) -> list[DeviceReport]:
        """What the vendor says in a body it pushed, a report per device it names (bytes as
        they arrived: a webhook's body, a broker's message). A body the client cannot read
        raises MalformedPush; pushed_json() does it for a JSON body. The default: the vendor
        does not push."""
        raise PushNotSupported(f"{type(self).__name__} does not read pushed bodies")

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check that a push is the vendor's, from its headers and raw body, before it is
        read; return its signature, or what else tells this delivery from another: the same
        delivery received twice is stored once. Raise signing.UnsignedPush, ForgedPush or
        StalePush when it is not shown to be the vendor's. The default: this project's own
        scheme (vendors/signing.py), keyed with webhook_secret."""
        return signing.verify(self.webhook_secret, headers, body)

    def close(self) -> None:  # noqa: B027 - a client without connections has nothing to close
        """Release connections; the default client has none."""


def pushed_json(body: bytes, parser: Callable[[Any], list[DeviceReport]]) -> list[DeviceReport]:
    """parser(the body parsed from JSON), or MalformedPush naming what was wrong: whoever pushed
    it cannot be asked again, so a body the parser does not understand is refused, not guessed
    at. So are readings no database stores, or that no page could show again: a value that is
    not a finite number, a time that is not one of Python's once in UTC."""
    try:
        reports = parser(loads(body))
    except UnsafeJSON as error:
        raise MalformedPush(f"the body is not JSON this project reads: {error}") from None
    except KeyError as error:
        raise MalformedPush(f"no {error} field") from None
    except (AttributeError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise MalformedPush(str(error) or type(error).__name__) from None
    for report in reports:
        for reading in report.readings:
            if not math.isfinite(reading.value):
                raise MalformedPush(f"{reading.name} of {report.vendor_device_id} is not finite")
        moments = [reading.valid_at for reading in report.readings]
        moments += [report.status.valid_at] if report.status else []
        try:
            for moment in moments:
                moment.astimezone(UTC)
        except OverflowError:
            raise MalformedPush(f"a time of {report.vendor_device_id} is out of range") from None
    return reports
