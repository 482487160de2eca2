"""The REST API: devices, their readings, and commands a UI polls until they settle.

A person sees and commands only the devices they own; staff see, create, change and delete
every device. Another person's device or command is answered 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
{%- if cookiecutter.scheduler == "celery-beat" %}
from django.utils.log import log_response
{%- endif %}
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, Serializer
from rest_framework.views import APIView
{%- if cookiecutter.scheduler == "celery-beat" %}

from config.celery import NotQueued
{%- endif %}

from ..devices.models import Device, DeviceQuerySet
from ..interactions.control import CannotSwitch, IdempotencyKeyReused, request_status
from ..interactions.models import Command
from ..observations import exports, queries
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.models import Export
from ..observations.tasks import queue_export
{%- endif %}
from . import serializers
from .parsers import JSONParser
from .renderers import CSVRenderer, JSONRenderer

if TYPE_CHECKING:
    # The stubs' name for what get_permissions() returns; DRF itself has none.
    from rest_framework.permissions import _SupportsHasPermission

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=Model)

{%- if cookiecutter.scheduler == "celery-beat" %}

# A worker sends the command: the answer says it was accepted, and where to poll it.
COMMAND_REQUESTED = status.HTTP_202_ACCEPTED
{%- else %}

# The command is sent within the request: the answer is the command, settled.
COMMAND_REQUESTED = status.HTTP_201_CREATED
{%- endif %}
IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 200

BAD_INPUT = OpenApiResponse(description="Invalid input: {field: [messages]}.")
NOT_FOUND = OpenApiResponse(description="No such device, or not one of yours.")
STAFF_ONLY = OpenApiResponse(description="Only staff create, change and delete devices.")


def staff_only(
    description: str, status_code: int, response: type[Serializer] | None
) -> Callable[[F], F]:
    return extend_schema(
        description=f"{description} Staff only.",
        responses={status_code: response, 400: BAD_INPUT, 403: STAFF_ONLY, 404: NOT_FOUND},
    )


def query(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    """The request's query parameters, validated: a 400 names each bad one."""
    parameters = serializer_class(data=request.query_params.dict())
    parameters.is_valid(raise_exception=True)
    return parameters.validated_data


def filter_devices(devices: DeviceQuerySet, filters: dict[str, Any]) -> DeviceQuerySet:
    if filters.get("vendor"):
        devices = devices.filter(vendor=filters["vendor"])
    if filters.get("location"):
        devices = devices.filter(location=filters["location"])
    if filters.get("online") is not None:
        devices = devices.online() if filters["online"] else devices.offline()
    return devices


{%- if cookiecutter.scheduler == "celery-beat" %}


def not_queued(request: Request, error: NotQueued) -> Response:
    """503 with Retry-After: the task queue could not be reached, and nothing was queued."""
    refused = Response(
        {"detail": str(error)},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(error.retry_after)},
    )
    # Not the ERROR Django logs a 503 with, mailed once per refused request: the caller has
    # logged why, and the broker's outage raises its own alert.
    log_response("Not queued: %s", request.path, response=refused, request=request, level="info")
    return refused
{%- endif %}


class IntegerIdMixin(GenericAPIView[M]):
    """Answer a non-numeric id in the path with a 400, not a 404 or a database error."""

    def get_object(self) -> M:
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        if not (lookup.isascii() and lookup.isdigit()):
            raise ValidationError({"id": [f"{lookup!r} is not an id: give a whole number."]})
        return super().get_object()


@extend_schema(tags=["devices"])
@extend_schema_view(
    create=staff_only("Add a device.", 201, serializers.DeviceSerializer),
    update=staff_only("Replace a device's fields.", 200, serializers.DeviceSerializer),
    partial_update=staff_only("Change a device's fields.", 200, serializers.DeviceSerializer),
    destroy=staff_only("Delete a device, its readings and its commands.", 204, None),
)
class DeviceViewSet(IntegerIdMixin[Device], viewsets.ModelViewSet[Device]):
    """Devices: each person reads and commands their own; staff every device."""

    serializer_class = serializers.DeviceSerializer

    def get_queryset(self) -> DeviceQuerySet:
        devices = Device.objects.visible_to(self.request.user)
        if self.action == "list":
            return filter_devices(devices, query(serializers.DeviceFilterSerializer, self.request))
        return devices

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        if self.action in {"create", "update", "partial_update", "destroy"}:
            return [IsAdminUser()]
        return super().get_permissions()

    def get_serializer_class(self) -> type[BaseSerializer[Device]]:
        if self.action == "retrieve":
            return serializers.DeviceDetailSerializer
        return super().get_serializer_class()

    @extend_schema(parameters=[serializers.DeviceFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your devices (every device, for staff), by name; filter by vendor, location, online."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: serializers.DeviceDetailSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A device with its latest readings: its newest status and newest value of each name."""
        device = self.get_object()
        device.latest = queries.latest_readings(device)
        return Response(self.get_serializer(device).data)

    @extend_schema(
        parameters=[serializers.AttributeFilterSerializer],
        responses={200: serializers.AttributeSerializer(many=True), 400: BAD_INPUT, 404: NOT_FOUND},
    )
    @action(detail=True, serializer_class=serializers.AttributeSerializer)
    def attributes(self, request: Request, pk: str | None = None) -> Response:
        """A device's numeric readings, newest first; filter by name and time range."""
        device = self.get_object()
        filters = query(serializers.AttributeFilterSerializer, request)
        readings = device.attributes.order_by("-valid_at", "name")
        if filters.get("name"):
            readings = readings.filter(name=filters["name"])
        if "since" in filters:
            readings = readings.filter(valid_at__gte=filters["since"])
        if "until" in filters:
            readings = readings.filter(valid_at__lt=filters["until"])
        # DRF paginates any queryset; its stubs expect one of this view's model, Device.
        page = self.paginate_queryset(cast("QuerySet[Any]", readings))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        parameters=[serializers.HistoryQuerySerializer],
        responses={200: serializers.HistorySerializer, 400: BAD_INPUT, 404: NOT_FOUND},
    )
    @action(detail=True, serializer_class=serializers.HistorySerializer, pagination_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        """One reading aggregated per bucket of time (average, minimum, maximum, count), for
        charts; at most 1000 buckets. Buckets start at multiples of their width since
        1970-01-01 UTC, so a day bucket starts at midnight UTC."""
        device = self.get_object()
        parameters = query(serializers.HistoryQuerySerializer, request)
        buckets = queries.history(
            device.pk,
            parameters["name"],
            queries.BUCKETS[parameters["bucket"]],
            parameters["since"],
            parameters["until"],
        )
        return Response(serializers.represent_history(device.pk, parameters, buckets))

    @extend_schema(
        request=serializers.SwitchSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description=(
                    "Any unique text of up to 200 characters. A retried request with the same key "
                    "returns the command the first one created and sends nothing twice."
                ),
            )
        ],
        responses={
            COMMAND_REQUESTED: serializers.CommandSerializer,
            400: BAD_INPUT,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The device cannot be switched: a sensor."),
            422: OpenApiResponse(description="The idempotency key names another command."),
{%- if cookiecutter.scheduler == "celery-beat" %}
            503: OpenApiResponse(
                description=(
                    "The command could not be queued: retry after Retry-After seconds with the "
                    "same Idempotency-Key."
                )
            ),
{%- endif %}
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="commands",
        serializer_class=serializers.CommandSerializer,
        parser_classes=[JSONParser],
    )
    def commands(self, request: Request, pk: str | None = None) -> Response:
{%- if cookiecutter.scheduler == "celery-beat" %}
        """Switch a device on or off. The command is queued and answered at once (202): poll
        its url until `settled`."""
{%- else %}
        """Switch a device on or off. The command is sent within the request and answered
        settled (201): confirmed, or failed with the reason."""
{%- endif %}
        device = self.get_object()
        body = serializers.SwitchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request.headers.get(IDEMPOTENCY_KEY, "").strip()
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
            raise ValidationError(
                {
                    IDEMPOTENCY_KEY: [
                        f"Give printable text of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters."
                    ]
                }
            )
        try:
            command, _ = request_status(
                device,
                body.validated_data["is_on"],
                requested_by=request.user,
                idempotency_key=key,
            )
        except CannotSwitch as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        except IdempotencyKeyReused as error:
            return Response({IDEMPOTENCY_KEY: [str(error)]}, status=422)
{%- if cookiecutter.scheduler == "celery-beat" %}
        except NotQueued as error:
            return not_queued(request, error)
{%- endif %}
        data = self.get_serializer(command).data
        # str(): the url is a Hyperlink, which WSGI servers refuse as a header value.
        return Response(data, status=COMMAND_REQUESTED, headers={"Location": str(data["url"])})


@extend_schema(tags=["commands"])
class CommandViewSet(
    IntegerIdMixin[Command], mixins.RetrieveModelMixin, viewsets.GenericViewSet[Command]
):
    """Commands, to poll until they settle."""

    serializer_class = serializers.CommandSerializer

    def get_queryset(self) -> QuerySet[Command]:
        return Command.objects.filter(device__in=Device.objects.visible_to(self.request.user))

    @extend_schema(
        responses={
            200: serializers.CommandSerializer,
            404: OpenApiResponse(description="No such command, or not for one of your devices."),
        }
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A command's state: queued, sent, then confirmed or failed with the vendor's answer."""
        return super().retrieve(request, *args, **kwargs)


@extend_schema(
    tags=["devices"],
    parameters=[serializers.DeviceFilterSerializer],
    responses={200: serializers.DeviceReadingsSerializer(many=True), 400: BAD_INPUT},
)
class LatestReadingsView(APIView):
    """The latest readings of every device you may see, in one call, whatever their number."""

    def get(self, request: Request) -> Response:
        filters = query(serializers.DeviceFilterSerializer, request)
        devices = filter_devices(Device.objects.visible_to(request.user), filters)
        return Response(serializers.represent_latest(devices, request))


@extend_schema(tags=["auth"])
class ObtainTokenView(ObtainAuthToken):
    """Trade a username and password for the token to send as `Authorization: Token <key>`."""

    # DRF's view names its own parsers: the same, but JSON parsed within limits.
    parser_classes = [FormParser, MultiPartParser, JSONParser]
{%- if cookiecutter.scheduler == "celery-beat" %}


@extend_schema(tags=["exports"])
class ExportViewSet(
    IntegerIdMixin[Export], mixins.RetrieveModelMixin, viewsets.GenericViewSet[Export]
):
    """Readings as CSV files, written by a worker: ask for one, poll it, download it."""

    serializer_class = serializers.ExportSerializer
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[Export]:
        return Export.objects.filter(owner_id=self.request.user.pk)

    @extend_schema(
        request=serializers.ExportRequestSerializer,
        responses={
            202: serializers.ExportSerializer,
            400: BAD_INPUT,
            503: OpenApiResponse(
                description="The export could not be queued: ask again after Retry-After seconds."
            ),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Ask for your devices' readings as CSV. The answer (202) is the export: poll its url
        until it has succeeded, then get its download_url. The same request within
        EXPORT_CACHE_SECONDS answers the same export rather than writing another."""
        body = serializers.ExportRequestSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        export, created = exports.find_or_create(request.user, body.wanted())
        if created:
            try:
                queue_export(export.pk)
            except NotQueued as error:
                return not_queued(request, error)
            export.refresh_from_db()  # written already when tasks run in-process
        data = self.get_serializer(export).data
        return Response(
            data, status=status.HTTP_202_ACCEPTED, headers={"Location": str(data["url"])}
        )

    @extend_schema(
        responses={
            200: serializers.ExportSerializer,
            404: OpenApiResponse(description="No such export, or not one of yours."),
        }
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """An export's state: queued, running, then succeeded (with its download_url) or
        failed (with the reason)."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            404: OpenApiResponse(description="No such export, or not one of yours."),
            409: OpenApiResponse(description="The export has not succeeded (yet)."),
        }
    )
    @action(detail=True, renderer_classes=[JSONRenderer, CSVRenderer])
    def download(self, request: Request, pk: str | None = None) -> Response | StreamingHttpResponse:
        """The export's CSV: device_id, device, name, value, units, valid_at (UTC)."""
        export = self.get_object()
        if export.state != Export.State.SUCCEEDED:
            return Response(
                {"detail": f"The export is {export.state}: poll its url until it has succeeded."},
                status=status.HTTP_409_CONFLICT,
            )
        return exports.csv_response(exports.download(export), f"readings-{export.pk}.csv")
{%- else %}


@extend_schema(tags=["exports"])
class ExportView(APIView):
    """Readings as CSV, streamed as they are read."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        request=serializers.ExportRequestSerializer,
        responses={(200, "text/csv"): OpenApiTypes.STR, 400: BAD_INPUT},
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        """Your devices' readings as CSV (device_id, device, name, value, units, valid_at in
        UTC), written to the answer as the database gives them."""
        body = serializers.ExportRequestSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        return exports.csv_response(exports.csv_stream(body.wanted()), "readings.csv")
{%- endif %}
