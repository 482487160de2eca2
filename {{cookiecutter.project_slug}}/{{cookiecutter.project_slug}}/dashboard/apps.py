from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.dashboard"
    verbose_name = "Dashboard"
