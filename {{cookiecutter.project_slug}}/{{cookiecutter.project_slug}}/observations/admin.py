from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from .models import Attribute, Status


class ObservationAdmin(admin.ModelAdmin):
    date_hierarchy = "valid_at"
    list_select_related = ("device",)
    search_fields = ("device__name", "device__vendor_device_id")
    # A select box would load every device; the autocomplete asks for a few at a time.
    autocomplete_fields = ("device",)
    readonly_fields = ("recorded_at",)
    # Counting a large table for the paginator costs more than showing the page.
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A reading is what the vendor said, kept as it was; the latest tables follow inserts.
        return False


@admin.register(Attribute)
class AttributeAdmin(ObservationAdmin):
    list_display = ("device", "name", "value", "units", "valid_at")
    list_filter = ("name", "device__vendor")


@admin.register(Status)
class StatusAdmin(ObservationAdmin):
    list_display = ("device", "is_on", "state", "valid_at")
    list_filter = ("is_on", "device__vendor")
