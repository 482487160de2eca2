"""The dashboard: what each device says now, its history, and a switch."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
{%- if cookiecutter.scheduler == "celery-beat" %}

from config.celery import NotQueued
{%- endif %}

from ..api.serializers import ExportRequestSerializer
from ..devices.models import Device
from ..interactions.control import CannotSwitch, request_status
from ..observations import exports
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.models import Export
{%- endif %}
from ..observations.queries import LatestReadings, history, latest_for_devices, latest_readings
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..observations.tasks import queue_export
{%- endif %}
from .charts import Point, line_chart

# What the export form offers at first: the last 30 days.
EXPORT_DAYS = timedelta(days=30)
# Range -> bucket: each range is drawn with at most a few hundred points.
RANGES = {
    "24h": (timedelta(hours=24), timedelta(minutes=5)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(hours=4)),
}


@login_required
def device_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    # Only what the page shows: the list has every device, and metadata may be large.
    devices = Device.objects.visible_to(request.user).only(
        "name",
        "location",
        "vendor",
        "can_switch",
        "last_seen_at",
        "reported_online",
        "unlisted_at",
        "created_at",
    )
    latest = latest_for_devices(devices)
    rows = [
        {
            "device": device,
            "latest": latest.get(device.pk, LatestReadings()),
            "silent": device.is_silent(now),
            "reported_offline": device.is_reported_offline(now),
        }
        for device in devices
    ]
    return render(request, "dashboard/device_list.html", {"rows": rows})


@login_required
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(Device.objects.visible_to(request.user), pk=pk)
    chosen = request.GET.get("range", "24h")
    if chosen not in RANGES:
        raise Http404(f"No range {chosen!r}: choose one of {', '.join(RANGES)}.")
    length, bucket = RANGES[chosen]
    now = timezone.now()
    latest = latest_readings(device)
    charts = []
    for attribute in latest.attributes:
        buckets = history(device.pk, attribute.name, bucket, now - length, now)
        points = [Point(b.start, b.avg, b.min, b.max) for b in buckets]
        charts.append(line_chart(points, attribute.units, attribute.name))
    context = {
        "device": device,
        "latest": latest,
        "silent": device.is_silent(now),
        "reported_offline": device.is_reported_offline(now),
        "charts": charts,
        "ranges": list(RANGES),
        "chosen": chosen,
        "commands": device.commands.order_by("-created_at")[:10],
        "export_since": timezone.localdate() - EXPORT_DAYS,
        "export_until": timezone.localdate(),
    }
    return render(request, "dashboard/device_detail.html", context)


@login_required
@require_POST
def switch(request: HttpRequest, pk: int) -> HttpResponse:
    """The switch without JavaScript; the page's script sends the same through the API."""
    device = get_object_or_404(Device.objects.visible_to(request.user), pk=pk)
    is_on = {"true": True, "false": False}.get(request.POST.get("is_on", ""))
    if is_on is None:  # not from the page's form, which sends one or the other
        return HttpResponseBadRequest("Send is_on: true or false.")
    try:
        command, _ = request_status(device, is_on, requested_by=request.user)
{%- if cookiecutter.scheduler == "celery-beat" %}
    except (CannotSwitch, NotQueued) as error:
{%- else %}
    except CannotSwitch as error:
{%- endif %}
        messages.error(request, str(error))
        return redirect("dashboard:device", pk=device.pk)
    messages.info(request, f"Turn {'on' if is_on else 'off'}: {command.state}.")
    return redirect("dashboard:device", pk=device.pk)


def day_start(day: str, days_after: int = 0) -> str:
    """A date from the form as the moment its day (or the day `days_after` it) starts, in the
    project's time zone; anything else as it came, for the serializer to refuse."""
    try:
        moment = date.fromisoformat(day) + timedelta(days=days_after)
        return datetime.combine(moment, time(), timezone.get_current_timezone()).isoformat()
    except (ValueError, OverflowError):
        return day


@login_required
@require_POST
def export(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A device's readings as CSV, from the first day to the last, both included."""
    device = get_object_or_404(Device.objects.visible_to(request.user), pk=pk)
    body = ExportRequestSerializer(
        data={
            "devices": [device.pk],
            "since": day_start(request.POST.get("since", "")),
            "until": day_start(request.POST.get("until", ""), days_after=1),
        },
        context={"request": request},
    )
    if not body.is_valid():
        problems = [f"{field}: {' '.join(map(str, said))}" for field, said in body.errors.items()]
        messages.error(request, "Not exported. " + "; ".join(problems))
        return redirect("dashboard:device", pk=device.pk)
{%- if cookiecutter.scheduler == "celery-beat" %}
    made, created = exports.find_or_create(request.user, body.wanted())
    if created:
        try:
            queue_export(made.pk)
        except NotQueued as error:
            messages.error(request, str(error))
            return redirect("dashboard:device", pk=device.pk)
    return redirect("dashboard:export", pk=made.pk)


@login_required
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An export as it stands; the page reloads itself until it has settled."""
    made = get_object_or_404(Export.objects.filter(owner_id=request.user.pk), pk=pk)
    devices = Device.objects.filter(pk__in=made.device_ids).order_by("name")
    return render(request, "dashboard/export.html", {"export": made, "devices": devices})
{%- else %}
    return exports.csv_response(exports.csv_stream(body.wanted()), f"readings-{device.pk}.csv")
{%- endif %}
