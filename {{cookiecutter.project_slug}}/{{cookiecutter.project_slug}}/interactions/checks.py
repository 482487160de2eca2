"""Production refuses to start when an alert would reach no one (config/alerts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error

from config.alerts import why_alerts_are_not_mailed, why_mail_is_not_delivered


def alerts_reach_someone(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    if not settings.PRODUCTION:
        return []
    problem = why_alerts_are_not_mailed() or why_mail_is_not_delivered()
    return [Error(problem, id="interactions.E001")] if problem else []
