from django.urls import path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import views

app_name = "api"

router = SimpleRouter()
router.register("devices", views.DeviceViewSet, basename="device")
router.register("commands", views.CommandViewSet, basename="command")
{%- if cookiecutter.scheduler == "celery-beat" %}
router.register("exports", views.ExportViewSet, basename="export")
{%- endif %}

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api:docs"), name="root"),
    path("latest/", views.LatestReadingsView.as_view(), name="latest"),
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
    path("exports/", views.ExportView.as_view(), name="exports"),
{%- endif %}
    path("auth/token/", views.ObtainTokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    *router.urls,
]
