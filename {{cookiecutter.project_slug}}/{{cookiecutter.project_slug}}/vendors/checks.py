"""Production refuses to start without the settings a vendor declares required in production
(config/vendor_settings.py): better no process than one whose every vendor call fails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error


def required_vendor_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    if not settings.PRODUCTION:
        return []
    return [
        Error(
            f"Set the {setting.variable} environment variable: the {vendor} vendor's "
            f"{setting.option}, required in production.",
            id="vendors.E001",
        )
        for vendor, config in settings.VENDORS.items()
        for setting in config.get("SETTINGS", ())
        if setting.required_in_production and not config["OPTIONS"].get(setting.option)
    ]
