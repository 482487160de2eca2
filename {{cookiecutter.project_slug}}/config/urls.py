from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from {{ cookiecutter.project_slug }}.api.webhooks import receive
from {{ cookiecutter.project_slug }}.interactions.views import health
from {{ cookiecutter.project_slug }}.vendors import simulator_api

admin.site.site_header = "{{ cookiecutter.project_name }}"
admin.site.site_title = "{{ cookiecutter.project_name }}"

urlpatterns = [
    path("admin/", admin.site.urls),
    # For an uptime monitor: no sign-in, JSON, 503 when something has stopped working.
    path("health/", health, name="health"),
    # Vendors' pushes: no sign-in, verified by their signature (api/webhooks.py).
    path("webhooks/<str:vendor>/", receive, name="webhook"),
    path("api/", include("{{ cookiecutter.project_slug }}.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("{{ cookiecutter.project_slug }}.dashboard.urls")),
]

if settings.SIMULATOR_API_ENABLED:
    urlpatterns.append(path("vendor-simulator/v1/", include(simulator_api)))
