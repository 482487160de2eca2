"""Error reporting to Sentry, started from production settings."""

import logging

import sentry_sdk
{%- if cookiecutter.scheduler == "celery-beat" %}
from sentry_sdk.integrations.celery import CeleryIntegration
{%- endif %}
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration


def init_sentry(dsn: str, environment: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[
            DjangoIntegration(),
{%- if cookiecutter.scheduler == "celery-beat" %}
            CeleryIntegration(),
{%- endif %}
            # ERROR log records become Sentry events; lower ones ride along as breadcrumbs.
            LoggingIntegration(event_level=logging.ERROR),
        ],
        # No personal data (user emails, IP addresses) leaves the project by default.
        send_default_pii=False,
    )
