"""Error reporting to Sentry, started from production settings."""

from __future__ import annotations

import logging
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
            CeleryIntegration(),
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
