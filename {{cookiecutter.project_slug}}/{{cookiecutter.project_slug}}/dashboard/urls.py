from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.device_list, name="devices"),
    path("devices/<int:pk>/", views.device_detail, name="device"),
    path("devices/<int:pk>/switch/", views.switch, name="switch"),
    path("devices/<int:pk>/export/", views.export, name="export-readings"),
{%- if cookiecutter.scheduler == "celery-beat" %}
    path("exports/<int:pk>/", views.export_detail, name="export"),
{%- endif %}
]
