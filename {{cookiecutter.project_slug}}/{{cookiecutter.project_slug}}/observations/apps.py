from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class ObservationsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.observations"
    verbose_name = "Observations"

    def ready(self) -> None:
        from .partitions import add_partitions_after_migrate
        from .timestamps import use_compiled_parser

        connection_created.connect(use_compiled_parser)
        post_migrate.connect(add_partitions_after_migrate, sender=self)
