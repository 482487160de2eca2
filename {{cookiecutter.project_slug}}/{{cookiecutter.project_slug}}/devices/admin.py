from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

{% if cookiecutter.scheduler == "celery-beat" -%}
from ..interactions.control import CommandNotQueued, request_refresh, request_status
{% else -%}
from ..interactions.control import request_refresh, request_status
{% endif -%}
from ..observations.queries import latest_readings
from .models import Device


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "location", "vendor", "vendor_device_id", "heard_from", "last_seen_at")
    list_filter = ("vendor", "location")
    search_fields = ("name", "location", "vendor_device_id")
    readonly_fields = (
        "latest_readings",
        "last_seen_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    # A select box would load every user; the autocomplete asks for a few at a time.
    autocomplete_fields = ("owner",)
    fieldsets = (
        (None, {"fields": ("name", "location", "owner")}),
        ("Vendor", {"fields": ("vendor", "vendor_device_id", "metadata")}),
        ("Latest readings", {"fields": ("latest_readings", "last_seen_at", "last_error")}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    actions = ("refresh_now", "turn_on", "turn_off")

    @admin.display(description="heard from", boolean=True)
    def heard_from(self, device: Device) -> bool:
        """False when the device has been silent for SILENT_AFTER_INTERVALS intervals."""
        return not device.is_silent()

    @admin.action(description="Refresh now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        device_ids = list(queryset.values_list("pk", flat=True))
        self.message_user(request, request_refresh(device_ids))

    @admin.action(description="Turn on")
    def turn_on(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        self._switch(request, queryset, is_on=True)

    @admin.action(description="Turn off")
    def turn_off(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        self._switch(request, queryset, is_on=False)

    def _switch(self, request: HttpRequest, queryset: QuerySet[Device], is_on: bool) -> None:
{%- if cookiecutter.scheduler == "celery-beat" %}
        try:
            # Paired with the devices in hand: a settled command no longer holds its device.
            sent = [
                (device, request_status(device, is_on, requested_by=request.user)[0])
                for device in queryset
            ]
        except CommandNotQueued as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return
{%- else %}
        # Paired with the devices in hand: a settled command no longer holds its device.
        sent = [
            (device, request_status(device, is_on, requested_by=request.user)[0])
            for device in queryset
        ]
{%- endif %}
        action = "on" if is_on else "off"
        states = ", ".join(f"{device}: {command.state}" for device, command in sent)
        failed = any(command.state == command.State.FAILED for _, command in sent)
        self.message_user(
            request,
            f"Turn {action}, {len(sent)} commands ({states}).",
            level=messages.WARNING if failed else messages.INFO,
        )

    @admin.display(description="latest readings")
    def latest_readings(self, device: Device) -> str:
        if device.pk is None:
            return "-"
        latest = latest_readings(device)
        rows = [(a.name, f"{a.value:g} {a.units}".strip(), a.valid_at) for a in latest.attributes]
        if latest.status is not None:
            state = latest.status.state or ("on" if latest.status.is_on else "off")
            rows.insert(0, ("status", state, latest.status.valid_at))
        if not rows:
            return "No readings yet."
        return format_html(
            "<table><tr><th>reading</th><th>value</th><th>taken at</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
