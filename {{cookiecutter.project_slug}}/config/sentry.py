"""Error reporting to Sentry, started from production settings, and Sentry Crons: Sentry
alerts when a periodic job fails or does not run on time, which a scheduler that stopped
cannot report itself."""

from __future__ import annotations

import logging
{%- if cookiecutter.scheduler == "heroku-scheduler" %}
from datetime import timedelta
{%- endif %}
from typing import TYPE_CHECKING, Any

import sentry_sdk
{%- if cookiecutter.scheduler == "celery-beat" %}
from sentry_sdk.integrations.celery import CeleryIntegration
{%- endif %}
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from config.redaction import SECRET_NAME, SUBSTITUTE, redact

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint


def scrubbed(value: Any, name: str = "") -> Any:
    """A copy of an event's dicts and lists, its texts redacted and any text under a name like a
    secret's (a local variable `api_token`) hidden. Sentry's own scrubber knows a fixed list of
    names, and nothing of URLs."""
    if isinstance(value, str):
        return SUBSTITUTE if name and SECRET_NAME.search(name) else redact(value)
    if isinstance(value, dict):
        return {key: scrubbed(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value


def scrub(event: Event, hint: Hint) -> Event:
    return scrubbed(event)


def init_sentry(dsn: str, environment: str, **options: Any) -> None:
    """Start the SDK; `options` go to sentry_sdk.init as they are (a transport, in tests)."""
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
        # Nor do secrets: an event leaves with its breadcrumbs (log lines, HTTP calls) scrubbed.
        before_send=scrub,
        **options,
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
