"""What the API reads and writes: models out, and every input (bodies, query parameters) in.

Query parameters go through serializers too, so that a bad one is a 400 naming the parameter,
and the schema documents each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request

from ..devices.models import Device, is_online
from ..interactions.models import Command
from ..observations import queries
from ..observations.exports import Wanted
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.models import Attribute, Export, Status
{%- else %}
from ..observations.models import Attribute, Status
{%- endif %}
from ..observations.queries import BUCKETS, MAX_BUCKETS

DEFAULT_HISTORY = timedelta(hours=24)
# The largest key a row can have (BigAutoField): past it, SQLite cannot even compare.
LARGEST_KEY = 2**63 - 1


# Models describe the fields; the latest readings, plain tuples with the same names, are written
# through the same serializers.
class StatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = Status
        fields = ["is_on", "state", "valid_at"]


class AttributeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attribute
        fields = ["name", "value", "units", "valid_at"]


class LatestReadingsSerializer(serializers.Serializer):
    status = StatusSerializer(allow_null=True, help_text="The newest status; null if none yet.")
    attributes = AttributeSerializer(many=True, help_text="The newest reading of each name.")


ONLINE = (
    "Heard from within the last SILENT_AFTER_INTERVALS monitoring intervals, and not reported "
    "offline by its vendor."
)
UNLISTED = "Its vendor's device list no longer includes it (see unlisted_at); it is kept."


# What every view of a device says besides its columns: where it is, whether it is online,
# whether its vendor still lists it. (A comment, not a docstring: the schema would show it as
# the description of every device.) The subclasses name their model and fields.
class DeviceFieldsSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:device-detail")
    online = serializers.BooleanField(source="is_online", read_only=True, help_text=ONLINE)
    unlisted = serializers.BooleanField(source="is_unlisted", read_only=True, help_text=UNLISTED)


class DeviceSerializer(DeviceFieldsSerializer):
    class Meta:
        model = Device
        fields = [
            "id",
            "url",
            "name",
            "location",
            "vendor",
            "vendor_device_id",
            "metadata",
            "owner",
            "can_switch",
            "reading_names",
            "online",
            "reported_online",
            "last_seen_at",
            "last_error",
            "unlisted",
            "unlisted_at",
            "created_at",
            "updated_at",
        ]
        # What the vendor says: its list (sync_devices) and its reads write these.
        read_only_fields = [
            "reading_names",
            "reported_online",
            "last_seen_at",
            "last_error",
            "unlisted_at",
            "created_at",
            "updated_at",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # The vendors settings.VENDORS has now, listed in the schema as the values allowed.
        known = sorted(settings.VENDORS)
        fields["vendor"] = serializers.ChoiceField(
            choices=known,
            default=Device._meta.get_field("vendor").default,
            help_text=Device._meta.get_field("vendor").help_text,
            error_messages={
                "invalid_choice": "Unknown vendor {input!r}: use one of " + ", ".join(known) + "."
            },
        )
        return fields

    def validate_metadata(self, metadata: object) -> dict[str, Any]:
        # Whether it can be stored at all, the model field's validators have said.
        if not isinstance(metadata, dict):
            raise serializers.ValidationError('Give a JSON object, e.g. {"model": "X1"}.')
        return metadata


class DeviceDetailSerializer(DeviceSerializer):
    latest = LatestReadingsSerializer(read_only=True)

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "latest"]


class DeviceReadingsSerializer(DeviceFieldsSerializer):
    """A device and its latest readings: one item of /api/latest/.

    It documents the endpoint, which answers with `represent_latest()` instead: the same
    output from plain values, because at a thousand devices this serializer's work per field
    costs several times the queries. A test holds the two to the same output.
    """

    latest = LatestReadingsSerializer(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "url",
            "name",
            "location",
            "vendor",
            "can_switch",
            "reading_names",
            "online",
            "reported_online",
            "last_seen_at",
            "unlisted",
            "latest",
        ]


def in_current_zone() -> Callable[[datetime | None], datetime | None]:
    """Moments moved to the current time zone, as DateTimeField writes them; the renderer then
    writes them as DateTimeField does. The database gives them in UTC, so a UTC project keeps
    them as they are."""
    if timezone.get_current_timezone_name() == "UTC":
        return lambda moment: moment
    zone = timezone.get_current_timezone()
    return lambda moment: moment and moment.astimezone(zone)


def represent_latest(devices: QuerySet[Device], request: Request) -> list[dict]:
    """These devices with their latest readings, each as DeviceReadingsSerializer writes it."""
    latest = queries.latest_for_devices(devices)
    moment = in_current_zone()
    # A device's url is the list's url and its id: one reverse() for all, not one each.
    devices_url = request.build_absolute_uri(reverse("api:device-list"))
    items = []
    for device in devices.values(
        "id",
        "name",
        "location",
        "vendor",
        "can_switch",
        "reading_names",
        "last_seen_at",
        "reported_online",
        "unlisted_at",
    ):
        readings = latest.get(device["id"], queries.LatestReadings())
        status = readings.status
        items.append(
            {
                "id": device["id"],
                "url": f"{devices_url}{device['id']}/",
                "name": device["name"],
                "location": device["location"],
                "vendor": device["vendor"],
                "can_switch": device["can_switch"],
                "reading_names": device["reading_names"],
                "online": is_online(device["last_seen_at"], device["reported_online"]),
                "reported_online": device["reported_online"],
                "last_seen_at": moment(device["last_seen_at"]),
                "unlisted": device["unlisted_at"] is not None,
                "latest": {
                    "status": status
                    and {
                        "is_on": status.is_on,
                        "state": status.state,
                        "valid_at": moment(status.valid_at),
                    },
                    "attributes": [
                        {
                            "name": reading.name,
                            "value": reading.value,
                            "units": reading.units,
                            "valid_at": moment(reading.valid_at),
                        }
                        for reading in readings.attributes
                    ],
                },
            }
        )
    return items


class CommandSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:command-detail")
    settled = serializers.BooleanField(
        source="is_settled", read_only=True, help_text="Confirmed or failed: stop polling."
    )

    class Meta:
        model = Command
        fields = [
            "id",
            "url",
            "device",
            "is_on",
            "state",
            "settled",
            "vendor_answer",
            "error",
            "created_at",
            "sent_at",
            "finished_at",
        ]
        read_only_fields = fields


class SwitchSerializer(serializers.Serializer):
    """The body of a command request."""

    is_on = serializers.BooleanField(help_text="true to switch the device on, false for off.")


# Query parameters


class DeviceFilterSerializer(serializers.Serializer):
    vendor = serializers.CharField(required=False, allow_blank=True, help_text="e.g. simulator")
    location = serializers.CharField(required=False, allow_blank=True)
    online = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: online (heard from lately, not reported offline); false: not.",
    )


def moment_field(help_text: str, required: bool = False) -> serializers.DateTimeField:
    # UTC: a moment far in the past or future must fail here, as a 400, rather than overflow
    # when it is converted for the database.
    return serializers.DateTimeField(required=required, default_timezone=UTC, help_text=help_text)


class TimeRangeSerializer(serializers.Serializer):
    since = moment_field("ISO 8601, e.g. 2026-01-15T12:00:00Z: readings taken at or after it.")
    until = moment_field("ISO 8601: readings taken before it.")

    def validate(self, data: dict) -> dict:
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError({"until": "Give a moment after since."})
        return data


class AttributeFilterSerializer(TimeRangeSerializer):
    name = serializers.CharField(required=False, allow_blank=True, help_text="e.g. temperature")


class HistoryQuerySerializer(TimeRangeSerializer):
    name = serializers.CharField(help_text="The reading to chart, e.g. temperature.")
    bucket = serializers.ChoiceField(
        choices=list(BUCKETS), default="1h", help_text="The width of one point of the chart."
    )
    since = moment_field("ISO 8601; default: 24 hours before until.")
    until = moment_field("ISO 8601; default: now.")

    def validate(self, data: dict) -> dict:
        data = super().validate(data)
        if "until" not in data:
            data["until"] = timezone.now()
        if "since" not in data:
            try:
                data["since"] = data["until"] - DEFAULT_HISTORY
            except OverflowError:
                raise serializers.ValidationError(
                    {"until": "Too early for a default since: give since as well."}
                ) from None
        if data["since"] >= data["until"]:
            raise serializers.ValidationError({"since": "Give a moment before until."})
        width = BUCKETS[data["bucket"]]
        if (data["until"] - data["since"]) / width > MAX_BUCKETS:
            raise serializers.ValidationError(
                {
                    "bucket": f"More than {MAX_BUCKETS} buckets of {data['bucket']}: "
                    "narrow the range or choose a larger bucket."
                }
            )
        return data


class HistoryBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Where the bucket starts, aligned in UTC.")
    avg = serializers.FloatField()
    min = serializers.FloatField()
    max = serializers.FloatField()
    count = serializers.IntegerField()


class HistorySerializer(serializers.Serializer):
    """A chart's data. It documents the history endpoint, which answers with
    `represent_history()`: 720 buckets through these fields cost more than the query."""

    device = serializers.IntegerField()
    name = serializers.CharField()
    bucket = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    buckets = HistoryBucketSerializer(many=True)


def represent_history(device_id: int, parameters: dict, buckets: list) -> dict:
    """A history, as HistorySerializer writes it."""
    moment = in_current_zone()
    return {
        "device": device_id,
        "name": parameters["name"],
        "bucket": parameters["bucket"],
        "since": moment(parameters["since"]),
        "until": moment(parameters["until"]),
        "buckets": [
            {
                "start": moment(bucket.start),
                "avg": bucket.avg,
                "min": bucket.min,
                "max": bucket.max,
                "count": bucket.count,
            }
            for bucket in buckets
        ],
    }


class ExportRequestSerializer(TimeRangeSerializer):
    """What an export holds: some of your devices' readings over a time range."""

    devices = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=LARGEST_KEY),
        min_length=1,
        help_text="Ids of your devices, at most EXPORT_MAX_DEVICES (1000 unless set).",
    )
    names = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        default=list,
        max_length=100,
        help_text="The readings to export, e.g. temperature; none: every reading.",
    )
    since = moment_field("ISO 8601: readings taken at or after it.", required=True)
    until = moment_field(
        "ISO 8601: readings taken before it; at most EXPORT_MAX_DAYS days after since.",
        required=True,
    )
    format = serializers.ChoiceField(choices=["csv"], default="csv")

    def validate_devices(self, device_ids: list[int]) -> list[int]:
        device_ids = list(dict.fromkeys(device_ids))  # in the order asked, each once
        if len(device_ids) > settings.EXPORT_MAX_DEVICES:
            raise serializers.ValidationError(
                f"At most {settings.EXPORT_MAX_DEVICES} devices in one export."
            )
        yours = Device.objects.visible_to(self.context["request"].user)
        found = set(yours.filter(pk__in=device_ids).values_list("pk", flat=True))
        unknown = [str(device_id) for device_id in device_ids if device_id not in found]
        if unknown:
            raise serializers.ValidationError(f"No device {', '.join(unknown[:10])} among yours.")
        return device_ids

    def validate(self, data: dict) -> dict:
        data = super().validate(data)
        if data["until"] - data["since"] > timedelta(days=settings.EXPORT_MAX_DAYS):
            raise serializers.ValidationError(
                {"until": f"At most {settings.EXPORT_MAX_DAYS} days in one export."}
            )
        return data

    def wanted(self) -> Wanted:
        data = self.validated_data
        return Wanted(data["devices"], sorted(set(data["names"])), data["since"], data["until"])

{%- if cookiecutter.scheduler == "celery-beat" %}


class ExportSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:export-detail")
    devices = serializers.ListField(
        source="device_ids", child=serializers.IntegerField(), read_only=True
    )
    download_url = serializers.SerializerMethodField(
        help_text="Where to get the CSV once the export has succeeded; null until then."
    )

    class Meta:
        model = Export
        fields = [
            "id",
            "url",
            "state",
            "devices",
            "names",
            "since",
            "until",
            "rows",
            "error",
            "download_url",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        if export.state != Export.State.SUCCEEDED:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api:export-download", args=[export.pk])
        )
{%- endif %}
