"""Error reporting to Sentry, started from production settings, and Sentry Crons: Sentry
alerts when a periodic job fails or does not run on time, which a scheduler that stopped
cannot report itself."""

import logging
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
from datetime import timedelta
{%- endif %}

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
            # A Crons monitor per beat entry: beat checks in when it sends a job, the worker
            # when the job ends.
            CeleryIntegration(monitor_beat_tasks=True),
{%- endif %}
            # ERROR log records become Sentry events; lower ones ride along as breadcrumbs.
            LoggingIntegration(event_level=logging.ERROR),
        ],
        # No personal data (user emails, IP addresses) leaves the project by default.
        send_default_pii=False,
    )
{%- if cookiecutter.scheduler == "heroku-scheduler" %}


def cron_monitor(name: str, every: timedelta) -> sentry_sdk.monitor:
    """Check in to the Sentry Crons monitor of a periodic job around one of its runs: Sentry
    alerts when a run fails, overruns its interval, or does not come (Heroku Scheduler stopped
    running it)."""
    minutes = max(1, round(every.total_seconds() / 60))
    return sentry_sdk.monitor(
        monitor_slug=name,
        monitor_config={
            "schedule": {"type": "interval", "value": minutes, "unit": "minute"},
            # Heroku Scheduler starts a job within a few minutes of its time.
            "checkin_margin": 5,
            "max_runtime": minutes,
        },
    )
{%- endif %}
