from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ObservationsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.observations"
    verbose_name = "Observations"

    def ready(self) -> None:
        from .timestamps import use_compiled_parser

        connection_created.connect(use_compiled_parser)
