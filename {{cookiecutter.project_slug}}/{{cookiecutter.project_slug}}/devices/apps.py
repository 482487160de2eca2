from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.devices"
    verbose_name = "Devices"
