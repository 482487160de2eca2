"""Alerts: ERROR logs mailed to ADMINS, and the means to prove that they arrive.

Django's AdminEmailHandler mails with fail_silently=True, so that a logging call never fails;
a mail server that refuses every alert then goes unnoticed. Production checks at start-up
that alerts have somewhere to go (interactions/checks.py), and `manage.py send_test_alert`
sends one through the handler with failures raised: the whole path, proved on deploy day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

from .redaction import AdminEmailHandler

# Backends that keep mail inside the process or its logs: alerts sent there reach no one.
UNDELIVERED_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
}

_raise_failures = ContextVar("raise_alert_failures", default=False)


class AdminAlertHandler(AdminEmailHandler):
    """The redacting AdminEmailHandler, except that it raises within raising_failures()."""

    def connection(self) -> BaseEmailBackend:
        # Django's opens a connection that fails silently, whatever send_mail is told.
        return get_connection(backend=self.email_backend, fail_silently=not _raise_failures.get())


@contextmanager
def raising_failures() -> Iterator[None]:
    """Alerts sent in this block raise when they cannot be sent, in this thread only."""
    token = _raise_failures.set(True)
    try:
        yield
    finally:
        _raise_failures.reset(token)


def alert_handlers() -> list[AdminAlertHandler]:
    """The handlers that mail an ERROR logged anywhere: those of the root logger."""
    return [h for h in logging.getLogger().handlers if isinstance(h, AdminAlertHandler)]


def why_alerts_are_not_mailed() -> str | None:
    """Why an ERROR logged now would not be mailed to anyone, or None."""
    if not alert_handlers():
        return (
            "ERROR logs are not mailed: LOGGING gives the root logger no "
            "config.alerts.AdminAlertHandler."
        )
    if not any("@" in address for _, address in settings.ADMINS):
        return "Set DJANGO_ADMINS to whom alerts are mailed, e.g. 'Ann <ann@example.com>'."
    return None


def why_mail_is_not_delivered() -> str | None:
    """Why mail sent now would stay inside this process or its logs, or None."""
    if settings.EMAIL_BACKEND in UNDELIVERED_EMAIL_BACKENDS:
        return (
            "Set EMAIL_URL to a mail server, e.g. smtp+tls://user:password@smtp.example.com:587: "
            f"{settings.EMAIL_BACKEND} delivers no mail."
        )
    return None
