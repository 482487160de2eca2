from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .health import job_health
from .models import Alert, Command, JobRun, Schedule
from .schedule import next_run_at


class RecordAdmin(admin.ModelAdmin):
    """Rows the project writes as things happen: shown here, never added or edited."""

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Command)
class CommandAdmin(RecordAdmin):
    # Commands are asked for on a device (its actions, the dashboard, the API), which sends them.
    list_display = ("device", "is_on", "state", "created_at", "finished_at", "error")
    list_filter = ("state", "is_on")
    list_select_related = ("device",)
    search_fields = ("device__name", "device__vendor_device_id")


@admin.register(JobRun)
class JobRunAdmin(RecordAdmin):
    list_display = (
        "name",
        "started_at",
        "duration",
        "outcome",
        "devices_refreshed",
        "devices_failed",
        "detail",
    )
    list_filter = ("name", "outcome")
    date_hierarchy = "started_at"


@admin.register(Alert)
class AlertAdmin(RecordAdmin):
    list_display = ("message", "kind", "opened_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    """One row per periodic job: cadence, last run, outcome and duration, next run."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        now = timezone.now()
        rows = [
            {
                "health": health,
                "next_run": next_run_at(health.job, health.last_run, now),
            }
            for health in job_health(now)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedule",
            "opts": self.model._meta,
            "rows": rows,
            "now": now,
        }
        return TemplateResponse(request, "admin/interactions/schedule/change_list.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
