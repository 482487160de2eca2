from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
{%- if cookiecutter.scheduler == "celery-beat" %}

from config.celery import NotQueued
{%- endif %}

from ..interactions.control import request_refresh, request_status
from ..observations.queries import latest_readings
from .models import Device
from .sync import SyncFailed, sync_devices


class ListedFilter(admin.SimpleListFilter):
    title = "listed by the vendor"
    parameter_name = "listed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No longer")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Device]) -> QuerySet[Device]:
        if self.value() == "yes":
            return queryset.filter(unlisted_at=None)
        if self.value() == "no":
            return queryset.exclude(unlisted_at=None)
        return queryset


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "location",
        "vendor",
        "vendor_device_id",
        "online",
        "heard_from",
        "reported_online",
        "can_switch",
        "listed",
        "last_seen_at",
    )
    list_filter = ("vendor", "location", "can_switch", ListedFilter)
    search_fields = ("name", "location", "vendor_device_id")
    readonly_fields = (
        "reading_names",
        "unlisted_at",
        "latest_readings",
        "last_seen_at",
        "reported_online",
        "last_error",
        "created_at",
        "updated_at",
    )
    # A select box would load every user; the autocomplete asks for a few at a time.
    autocomplete_fields = ("owner",)
    fieldsets = (
        (None, {"fields": ("name", "location", "owner")}),
        (
            "Vendor",
            {
                "fields": (
                    "vendor",
                    "vendor_device_id",
                    "metadata",
                    "can_switch",
                    "reading_names",
                    "unlisted_at",
                )
            },
        ),
        (
            "Latest readings",
            {"fields": ("latest_readings", "last_seen_at", "reported_online", "last_error")},
        ),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    actions = ("refresh_now", "turn_on", "turn_off", "import_devices")

    @admin.display(description="online", boolean=True)
    def online(self, device: Device) -> bool:
        """Heard from lately, and not reported offline by its vendor (Device.is_online)."""
        return device.is_online

    @admin.display(description="heard from", boolean=True)
    def heard_from(self, device: Device) -> bool | None:
        """Unknown until the vendor first answers for it; then False once it has been silent
        for SILENT_AFTER_INTERVALS intervals."""
        if device.last_seen_at is None:
            return None
        return not device.is_silent()

    @admin.display(description="listed", boolean=True)
    def listed(self, device: Device) -> bool:
        """False once the vendor's device list no longer includes it (sync_devices)."""
        return not device.is_unlisted

    @admin.action(description="Import devices from the vendor")
    def import_devices(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        """Sync the device lists of the selected devices' vendors, now, in this request: one
        list call per vendor. `manage.py sync_devices` imports a vendor no device has yet."""
        vendors = sorted(set(queryset.values_list("vendor", flat=True)))
        for vendor in vendors:
            try:
                synced = sync_devices(vendor)
            except SyncFailed as error:
                self.message_user(request, f"Import failed: {error}", level=messages.ERROR)
            else:
                self.message_user(request, f"Imported: {synced}.")

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
        action = "on" if is_on else "off"
        # Sensors are left out, and named: the vendor would refuse their commands.
        skipped = list(queryset.filter(can_switch=False).values_list("name", flat=True))
        if skipped:
            self.message_user(
                request,
                f"Turn {action}: skipped {len(skipped)} devices that cannot be switched "
                f"({', '.join(skipped)}).",
                level=messages.WARNING,
            )
        devices = queryset.filter(can_switch=True)
        if not devices:
            return
{%- if cookiecutter.scheduler == "celery-beat" %}
        try:
            # Paired with the devices in hand: a settled command no longer holds its device.
            sent = [
                (device, request_status(device, is_on, requested_by=request.user)[0])
                for device in devices
            ]
        except NotQueued as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return
{%- else %}
        # Paired with the devices in hand: a settled command no longer holds its device.
        sent = [
            (device, request_status(device, is_on, requested_by=request.user)[0])
            for device in devices
        ]
{%- endif %}
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
