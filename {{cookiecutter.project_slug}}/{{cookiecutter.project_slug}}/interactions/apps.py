{% if cookiecutter.scheduler == "celery-beat" -%}
import os
import sys

{% endif -%}
from django.apps import AppConfig
{%- if cookiecutter.scheduler == "celery-beat" %}
from django.conf import settings
{%- endif %}
from django.core import checks


class InteractionsConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.interactions"
    verbose_name = "Interactions"

    def ready(self) -> None:
        from .checks import alerts_reach_someone

        checks.register(alerts_reach_someone, "alerts")
{%- if cookiecutter.scheduler == "celery-beat" %}
        # RUN_MAIN: set by runserver's autoreloader in the process that serves requests.
        if settings.CELERY_TASK_ALWAYS_EAGER and os.environ.get("RUN_MAIN") == "true":
            print(
                "Tasks run in-process because REDIS_URL is unset; set it in .env "
                "(REDIS_URL=redis://127.0.0.1:6379/0) and run `make dev` to use a worker and beat.",
                file=sys.stderr,
            )
{%- endif %}
