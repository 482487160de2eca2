"""A client of the example REST API, the one the simulator serves at /vendor-simulator/v1/.

It is an HTTP vendor client as a team writes one on top of vendors/http.py, and the client the
simulator's HTTP tests drive over real sockets (tests/test_simulator_api.py), so a change to the
team's own vendor file never breaks them. The API:

    GET devices               -> {"devices": [{"id", "name", "metadata", "can_switch",
                                                "readings": ["temperature", ...]}]}
    GET state?ids=a,b,c       -> {"devices": [{"id", "online", "status": {...} | null,
                                               "readings": [{"name", "value", "units",
                                                             "timestamp"}]}]}
    PUT devices/<id>/status   {"is_on": true} -> {"id", "is_on", "state", "timestamp"}

A status is {"id", "is_on", "state", "timestamp"}. Every request sends "Authorization: Bearer
<token>"; timestamps are ISO 8601 with an offset; a read carries at most 100 ids; errors are
{"error": "..."} with the status code saying what kind (HTTPVendorClient.error_for).

The API also pushes, to a webhook: a POST whose body is what GET state answers, for the devices
that have something new, signed as vendors/signing.py describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .base import AttributeReading, DeviceInfo, DeviceReport, StatusReading, pushed_json
from .http import HTTPVendorClient


class ExampleAPIClient(HTTPVendorClient):
    """The example API: one request lists the devices, one reads a batch of them whole."""

    vendor = "example_api"
    batch_size = 100

    def list_devices(self) -> list[DeviceInfo]:
        body = self.request("GET", "devices")
        return self.parse(body, parse_devices, "GET devices")

    def read_devices(self, vendor_device_ids: Sequence[str]) -> list[DeviceReport]:
        if not vendor_device_ids:
            return []
        body = self.request("GET", "state", params={"ids": ",".join(vendor_device_ids)})
        return self.parse(body, parse_reports, "GET state")

    def parse_push(self, body: bytes) -> list[DeviceReport]:
        return pushed_json(body, parse_reports)

    def set_status(self, vendor_device_id: str, is_on: bool) -> StatusReading:
        # quote(): an id may hold characters with a meaning in URLs, a "/" among them.
        path = f"devices/{quote(vendor_device_id, safe='')}/status"
        body = self.request("PUT", path, json={"is_on": is_on})
        return self.parse(body, parse_status, f"PUT {path}")


def parse_devices(body: Any) -> list[DeviceInfo]:
    return [
        DeviceInfo(
            vendor_device_id=string(item, "id"),
            name=string(item, "name"),
            metadata=mapping(item, "metadata"),
            can_switch=boolean(item, "can_switch"),
            reading_names=strings(item, "readings"),
        )
        for item in body["devices"]
    ]


def parse_reports(body: Any) -> list[DeviceReport]:
    return [parse_report(item) for item in body["devices"]]


def parse_report(item: Any) -> DeviceReport:
    vendor_device_id = string(item, "id")
    online = item["online"]
    if online is not None and not isinstance(online, bool):
        raise TypeError(f"online is {type(online).__name__}, not true, false or null")
    status = item["status"]
    return DeviceReport(
        vendor_device_id=vendor_device_id,
        status=None if status is None else parse_status(status),
        readings=tuple(
            AttributeReading(
                vendor_device_id=vendor_device_id,
                name=string(reading, "name"),
                value=number(reading, "value"),
                units=string(reading, "units"),
                valid_at=timestamp(reading, "timestamp"),
            )
            for reading in item["readings"]
        ),
        online=online,
    )


def parse_status(item: Any) -> StatusReading:
    return StatusReading(
        vendor_device_id=string(item, "id"),
        is_on=boolean(item, "is_on"),
        state=string(item, "state"),
        valid_at=timestamp(item, "timestamp"),
    )


def string(item: Any, field: str) -> str:
    value = item[field]
    if not isinstance(value, str):
        raise TypeError(f"{field} is {type(value).__name__}, not a string")
    return value


def strings(item: Any, field: str) -> tuple[str, ...]:
    values = item[field]
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise TypeError(f"{field} is not a list of strings")
    return tuple(values)


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
