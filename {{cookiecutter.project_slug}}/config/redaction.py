"""Secrets kept out of error reports, the admins' error mails and log lines.

Django's error report hides a setting by its name (API, TOKEN, KEY, SECRET, PASS…), but a URL
carries its password in its value: a broker's or a cache's URL in the settings, and, in a dev
server's request, every variable of the environment, DATABASE_URL among them. So here,
besides names, every text loses the credentials of the URLs in it and the values of parameters
named like secrets (?api_key=…). Settings (production.py) send error mails through
AdminEmailHandler and log lines through Formatter, which apply the same to everything they
write: an exception's message is not filtered by Django, and a library may log a URL.
Sentry's events go through the same (config/sentry.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import ItemsView
from typing import Any

from django.utils import log
from django.utils.functional import Promise
from django.views.debug import SafeExceptionReporterFilter

SUBSTITUTE = "********************"
# Django's names of secrets, and Sentry's DSN and credentials.
SECRET_NAME = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DSN|CREDENTIAL", re.IGNORECASE
)
# A URL, from the start of its scheme to the next space. The lookbehind lets a match start only
# where a word starts, so that a long text without a URL is read once, not once per letter.
URL = re.compile(r"(?<![\w+.-])[a-z][\w+.-]*://\S*", re.IGNORECASE)
# name=value, as in a query string or a libpq connection string.
PARAMETER = re.compile(r"(?<![\w.-])([\w.-]{1,64})=([^&;,\s'\"]*)")


def hide_userinfo(url: re.Match) -> str:
    # Everything between :// and the last @: a password may hold an unescaped @ or /, and a
    # path with an @ in it loses a little more than its credentials, which is the safe side.
    text = url.group()
    start = text.index("://") + 3
    at = text.rfind("@")
    return text if at < start else f"{text[:start]}{SUBSTITUTE}{text[at:]}"


def hide_secret_parameter(parameter: re.Match) -> str:
    name, value = parameter.groups()
    return f"{name}={SUBSTITUTE}" if value and SECRET_NAME.search(name) else parameter.group()


def redact(text: str) -> str:
    """The text without the credentials of its URLs or the values of secret parameters."""
    if "=" in text:
        text = PARAMETER.sub(hide_secret_parameter, text)
    if "://" in text:
        text = URL.sub(hide_userinfo, text)
    return text


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """DEFAULT_EXCEPTION_REPORTER_FILTER: settings, the request's environment and the local
    variables of a traceback, without secrets by name or in URLs."""

    hidden_settings = SECRET_NAME

    def cleanse_setting(self, key: int | str, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> ItemsView[str, Any]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return {name: self.cleanse_setting(name, value) for name, value in variables}.items()


class AdminEmailHandler(log.AdminEmailHandler):
    """Django's, redacting the whole mail: the report's exception message and query string
    are not filtered, and a message may quote a URL."""

    def send_mail(
        self, subject: str | Promise, message: str | Promise, *args: Any, **kwargs: Any
    ) -> None:
        if kwargs.get("html_message"):
            kwargs["html_message"] = redact(kwargs["html_message"])
        super().send_mail(redact(str(subject)), redact(str(message)), *args, **kwargs)


class Formatter(logging.Formatter):
    """Log lines, tracebacks included, redacted: httpx, for one, logs each request's URL."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
