from django.contrib import admin
from django.utils.html import format_html, format_html_join

from ..observations.queries import latest_readings
from .models import Device


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "location", "vendor", "vendor_device_id", "updated_at")
    list_filter = ("vendor", "location")
    search_fields = ("name", "location", "vendor_device_id")
    readonly_fields = ("latest_readings", "created_at", "updated_at")
    # A select box would load every user; the autocomplete asks for a few at a time.
    autocomplete_fields = ("owner",)
    fieldsets = (
        (None, {"fields": ("name", "location", "owner")}),
        ("Vendor", {"fields": ("vendor", "vendor_device_id", "metadata")}),
        ("Latest readings", {"fields": ("latest_readings",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
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
