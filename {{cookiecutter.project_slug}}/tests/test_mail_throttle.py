"""ERROR mail: the first of a run of like errors at once, the next a window later with how
many were held back; errors unlike it, and each incident, mailed on their own."""

import logging

import pytest
from django.core import mail
from django.utils.module_loading import import_string

from config import mail_throttle

from .test_settings import REQUIRED_IN_PRODUCTION

WINDOW = 600


@pytest.fixture
def clock(monkeypatch):
    clock = type("Clock", (), {"now": 1000.0})()
    monkeypatch.setattr(mail_throttle.time, "monotonic", lambda: clock.now)
    return clock


@pytest.fixture
def mailed(settings_module, monkeypatch):
    """A logger whose ERRORs go to a mail handler set up as production's LOGGING sets it."""
{%- if cookiecutter.use_sentry %}
    monkeypatch.setattr("config.sentry.init_sentry", lambda **options: None)
{%- endif %}
    production = settings_module("config.settings.production", **REQUIRED_IN_PRODUCTION)
    mail_handler = production.LOGGING["handlers"]["mail_admins"]
    handler = import_string(mail_handler["class"])()
    handler.setFormatter(logging.Formatter(production.LOGGING["formatters"]["mail"]["format"]))
    for name in mail_handler["filters"]:
        options = dict(production.LOGGING["filters"][name])
        filter_class = import_string(options.pop("()"))
        handler.addFilter(filter_class(**(options | {"seconds": WINDOW} if options else {})))
    logger = logging.getLogger("tests.mail_throttle")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)


def test_a_repeated_error_is_mailed_once_per_window_with_a_count(mailed, clock):
    for attempt in range(1, 6):
        mailed.error("Cannot reach the vendor: try %d", attempt)
    clock.now += WINDOW + 1
    mailed.error("Cannot reach the vendor: try %d", 6)

    assert [message.subject.split("ERROR: ")[1] for message in mail.outbox] == [
        "Cannot reach the vendor: try 1",
        "Cannot reach the vendor: try 6",
    ]
    assert "4 more like this were not mailed since the last one, 10 minutes ago." in (
        mail.outbox[1].body
    )
    assert "more like this" not in mail.outbox[0].body


def test_errors_from_other_lines_and_incidents_are_mailed_on_their_own(mailed, clock):
    mailed.error("Cannot reach the vendor: try %d", 1)
    mailed.error("Vendor %s refused device %s", "acme", "plug-1")
    mailed.error("1 problems: %s", "devices silent", extra={"incident": "7x1"})
    mailed.error("1 problems: %s", "devices silent", extra={"incident": "7x2"})
    mailed.error("1 problems: %s", "devices silent", extra={"incident": "7x2"})

    assert len(mail.outbox) == 4


def test_the_same_line_failing_with_another_exception_is_mailed(mailed, clock):
    for error in (ValueError("a"), KeyError("b"), ValueError("c")):
        try:
            raise error
        except Exception:
            mailed.exception("Batch %s failed", 1)

    assert len(mail.outbox) == 2
