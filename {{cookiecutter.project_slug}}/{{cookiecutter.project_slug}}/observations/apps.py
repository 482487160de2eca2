from django.apps import AppConfig


class ObservationsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.observations"
    verbose_name = "Observations"
