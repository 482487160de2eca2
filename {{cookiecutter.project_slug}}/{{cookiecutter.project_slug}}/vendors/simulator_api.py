"""The simulated vendor's REST API: the example API that example_api.py describes and speaks.

Served at /vendor-simulator/v1/ when SIMULATOR_API_ENABLED (local and test settings), over the
same simulated cloud as the in-process SimulatorClient. The HTTP client is thereby tested on real
sockets, real status codes and real timeouts, and a team can run the whole project against "a
vendor" before it has credentials for the real one.

Every request needs "Authorization: Bearer <SIMULATOR_API_TOKEN>" (else 401). Errors are
{"error": "..."}: 400 bad input, 404 unknown device, 409 a sensor asked to switch, and the
simulator's faults (see its OPTIONS in settings.VENDORS): 429 with Retry-After beyond
max_concurrent_calls, 503 at error_rate, and at timeout_rate a 504 after `timeout` seconds.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from ..safejson import UnsafeJSON, loads
from .base import (
    AttributeReading,
    DeviceReport,
    RateLimited,
    RequestRejected,
    StatusReading,
    TransientVendorError,
    UnknownDevice,
    VendorTimeout,
)
from .simulator import simulated_cloud

View = Callable[..., dict]
STATUS_BODY = '{"is_on": true} or {"is_on": false}'


class BadRequest(Exception):
    """The request itself is wrong; answered 400 with this message."""


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def has_valid_token(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.SIMULATOR_API_TOKEN
    # compare_digest takes as long for a wrong token as for a right one; bytes, because it
    # refuses str with non-ASCII characters, which a client may well send.
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and secrets.compare_digest(token.strip().encode(), expected.encode())
    )


def api_view(method: str) -> Callable[[View], Callable[..., JsonResponse]]:
    """Turn a function returning a dict into a JSON endpoint answering the simulator's errors."""

    def decorate(view: View) -> Callable[..., JsonResponse]:
        # A vendor API has no CSRF cookie: callers authenticate with the bearer token instead.
        @csrf_exempt
        @wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if not has_valid_token(request):
                response = error_response(
                    401, "missing or wrong token: send Authorization: Bearer <SIMULATOR_API_TOKEN>"
                )
                response["WWW-Authenticate"] = "Bearer"
                return response
            if request.method != method:
                response = error_response(405, f"{request.method} is not allowed: use {method}")
                response["Allow"] = method
                return response
            try:
                return JsonResponse(view(request, *args, **kwargs))
            except BadRequest as error:
                return error_response(400, str(error))
            except UnknownDevice as error:
                return error_response(404, str(error))
            except RequestRejected as error:
                return error_response(409, str(error))
            except RateLimited as error:
                response = error_response(429, str(error))
                if error.retry_after is not None:
                    # Whole seconds, rounded up: a caller that obeys never comes back too early.
                    response["Retry-After"] = str(math.ceil(error.retry_after))
                return response
            except VendorTimeout as error:
                return error_response(504, str(error))
            except TransientVendorError as error:
                return error_response(503, str(error))

        return endpoint

    return decorate


def requested_ids(request: HttpRequest) -> list[str]:
    ids = [i.strip() for i in request.GET.get("ids", "").split(",") if i.strip()]
    if not ids:
        raise BadRequest("no device ids: pass them as ?ids=a,b,c")
    limit = simulated_cloud().options.batch_size
    if len(ids) > limit:
        raise BadRequest(f"{len(ids)} device ids in one read: send at most {limit}")
    return ids


def status_json(status: StatusReading) -> dict:
    return {
        "id": status.vendor_device_id,
        "is_on": status.is_on,
        "state": status.state,
        "timestamp": status.valid_at.isoformat(),
    }


def attribute_json(reading: AttributeReading) -> dict:
    return {
        "name": reading.name,
        "value": reading.value,
        "units": reading.units,
        "timestamp": reading.valid_at.isoformat(),
    }


def report_json(report: DeviceReport) -> dict:
    return {
        "id": report.vendor_device_id,
        "online": report.online,
        "status": status_json(report.status) if report.status else None,
        "readings": [attribute_json(reading) for reading in report.readings],
    }


@api_view("GET")
def devices(request: HttpRequest) -> dict:
    return {
        "devices": [
            {
                "id": device.vendor_device_id,
                "name": device.name,
                "metadata": device.metadata,
                "can_switch": device.can_switch,
                "readings": list(device.reading_names),
            }
            for device in simulated_cloud().list_devices()
        ]
    }


@api_view("GET")
def state(request: HttpRequest) -> dict:
    ids = requested_ids(request)
    return {"devices": [report_json(r) for r in simulated_cloud().read_devices(ids)]}


@api_view("PUT")
def device_status(request: HttpRequest, vendor_device_id: str) -> dict:
    try:
        body = loads(request.body)
    except RequestDataTooBig as error:  # larger than DATA_UPLOAD_MAX_MEMORY_SIZE
        raise BadRequest(str(error)) from None
    except UnsafeJSON as error:
        raise BadRequest(f"the body is not JSON ({error}): send {STATUS_BODY}") from None
    if not isinstance(body, dict) or not isinstance(body.get("is_on"), bool):
        raise BadRequest(f"the body needs a boolean is_on: send {STATUS_BODY}")
    return status_json(simulated_cloud().set_status(vendor_device_id, body["is_on"]))


app_name = "vendor_simulator"
urlpatterns = [
    path("devices", devices, name="devices"),
    path("state", state, name="state"),
    path("devices/<str:vendor_device_id>/status", device_status, name="device-status"),
]
