"""An ERROR reaches ADMINS: production refuses to start otherwise, and send_test_alert proves
it by sending one the same way."""

import logging
import socket
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from config.alerts import AdminAlertHandler

from ..checks import alerts_reach_someone

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def alert_handler(settings):
    """Production's mail handler on the root logger, where production's LOGGING puts it."""
    settings.ADMINS = [("Ann", "ann@example.com")]
    handler = AdminAlertHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
def refusing_mail_server(settings):
    """SMTP to a loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT = SMTP, "127.0.0.1", port


def test_send_test_alert_mails_admins_as_every_error_is(alert_handler):
    output = StringIO()

    call_command("send_test_alert", stdout=output)

    assert [message.to for message in mail.outbox] == [["ann@example.com"]]
    assert "Test alert from manage.py send_test_alert" in mail.outbox[0].subject
    assert output.getvalue().startswith("Test alert sent to ann@example.com through ")


def test_send_test_alert_fails_in_one_line_when_the_mail_server_refuses(
    alert_handler, refusing_mail_server
):
    with pytest.raises(CommandError, match=r"^The test alert was not sent: .*refused") as error:
        call_command("send_test_alert")

    assert "\n" not in str(error.value)


def test_other_errors_still_log_quietly_when_the_mail_server_refuses(
    alert_handler, refusing_mail_server
):
    # Only send_test_alert raises: a failed alert must not break the code that logged it.
    logging.getLogger(__name__).error("A job gave up.")


def test_send_test_alert_refuses_settings_that_mail_no_error():
    with pytest.raises(CommandError, match=r"^ERROR logs are not mailed: "):
        call_command("send_test_alert")


def test_production_starts_when_errors_are_mailed_to_admins_through_smtp(alert_handler, settings):
    settings.PRODUCTION, settings.EMAIL_BACKEND = True, SMTP

    assert alerts_reach_someone(None) == []


@pytest.mark.parametrize(
    ("admins", "backend", "problem"),
    [
        ([], SMTP, "Set DJANGO_ADMINS to whom alerts are mailed"),
        ([("", "nobody")], SMTP, "Set DJANGO_ADMINS to whom alerts are mailed"),
        (
            [("Ann", "ann@example.com")],
            "django.core.mail.backends.console.EmailBackend",
            "Set EMAIL_URL to a mail server",
        ),
    ],
)
def test_production_refuses_to_start_unless_an_alert_reaches_someone(
    alert_handler, settings, admins, backend, problem
):
    settings.PRODUCTION, settings.ADMINS, settings.EMAIL_BACKEND = True, admins, backend

    (error,) = alerts_reach_someone(None)

    assert error.msg.startswith(problem)


def test_production_refuses_to_start_when_errors_are_not_mailed(settings):
    settings.PRODUCTION, settings.EMAIL_BACKEND = True, SMTP

    (error,) = alerts_reach_someone(None)

    assert error.msg.startswith("ERROR logs are not mailed: ")
