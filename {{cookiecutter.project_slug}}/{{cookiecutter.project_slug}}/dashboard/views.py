"""The dashboard: what each device says now, its history, and a switch."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ..devices.models import Device
{%- if cookiecutter.scheduler == "celery-beat" %}
from ..interactions.control import CannotSwitch, CommandNotQueued, request_status
{%- else %}
from ..interactions.control import CannotSwitch, request_status
{%- endif %}
from ..observations.queries import LatestReadings, history, latest_for_devices, latest_readings
from .charts import Point, line_chart

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
    }
    return render(request, "dashboard/device_detail.html", context)


@login_required
@require_POST
def switch(request: HttpRequest, pk: int) -> HttpResponse:
    """The switch without JavaScript; the page's script sends the same through the API."""
    device = get_object_or_404(Device.objects.visible_to(request.user), pk=pk)
    is_on = request.POST.get("is_on") == "true"
    try:
        command, _ = request_status(device, is_on, requested_by=request.user)
{%- if cookiecutter.scheduler == "celery-beat" %}
    except (CannotSwitch, CommandNotQueued) as error:
{%- else %}
    except CannotSwitch as error:
{%- endif %}
        messages.error(request, str(error))
        return redirect("dashboard:device", pk=device.pk)
    messages.info(request, f"Turn {'on' if is_on else 'off'}: {command.state}.")
    return redirect("dashboard:device", pk=device.pk)
