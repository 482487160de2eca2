"""No secret reaches an error mail, an error report or a log line (config/redaction.py)."""

import json
import logging
import os
import secrets
import sys

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.views.debug import ExceptionReporter

SECRETS = {
    name: secrets.token_hex(8)
    for name in ["database", "broker", "email", "vendor", "vendor_key", "simulator", "dsn", "api"]
}
SECRETS["secret_key"] = secrets.token_urlsafe(50)
{%- if cookiecutter.use_mqtt %}
SECRETS["mqtt"] = secrets.token_hex(8)
{%- endif %}
VENDOR = "{{ cookiecutter.__vendor_module.upper() }}"
{%- if cookiecutter.scheduler == "celery-beat" %}
# Heroku Redis gives a redis:// URL, or a rediss:// one for TLS.
BROKERS: list[dict[str, str]] = [
    {"REDIS_URL": f"redis://:{SECRETS['broker']}@redis.example.com:6379/0"},
    {"REDIS_URL": f"rediss://:{SECRETS['broker']}@redis.example.com:6380/0"},
]
{%- else %}
# No broker: the database's is the URL with a password.
BROKERS: list[dict[str, str]] = [{}]
{%- endif %}


def production_variables(broker: dict[str, str]) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": SECRETS["secret_key"],
        "DJANGO_ALLOWED_HOSTS": "testserver",
        # A port where nothing answers: each request that reads the database fails at once.
        "DATABASE_URL": f"postgres://iot:{SECRETS['database']}@127.0.0.1:9/iot",
        "EMAIL_URL": f"smtp+tls://mailer:{SECRETS['email']}@smtp.example.com:587",
        "DJANGO_ADMINS": "Ops <ops@example.com>",
        f"{VENDOR}_API_TOKEN": SECRETS["vendor"],
        f"{VENDOR}_API_URL": f"https://api.example.com/v1/?api_key={SECRETS['vendor_key']}",
        "SIMULATOR_API_TOKEN": SECRETS["simulator"],
        "SENTRY_DSN": f"http://{SECRETS['dsn']}@127.0.0.1:9/1",
{%- if cookiecutter.use_mqtt %}
        "MQTT_URL": f"mqtts://consumer:{SECRETS['mqtt']}@mqtt.example.com:8883",
{%- endif %}
        **broker,
    }


def fail_and_mail() -> str:
    """Run in a process of its own, with production settings: fail as a request and as a job
    do, and return the mails the admins got, as JSON."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    # The database does not answer. The dev server's requests carry the environment.
    client = Client(raise_request_exception=False)
    client.defaults.update(os.environ)
    client.get("/api/devices/", secure=True, headers={"Authorization": f"Token {SECRETS['api']}"})
    logger = logging.getLogger("config")
    urls = " and ".join(value for value in os.environ.values() if "://" in value)
    logger.info("Connecting to %s", urls)
    try:
        raise ConnectionError(f"No answer from {urls}")
    except ConnectionError:
        logger.exception("A job failed")
    return json.dumps([f"{message.subject}\n{message.body}" for message in mail.outbox])


def scheme(broker: dict[str, str]) -> str:
    return next(iter(broker.values()), "no broker").partition(":")[0]


@pytest.fixture(scope="module", params=BROKERS, ids=scheme)
def failed_in_production(request, settings_in_fresh_process):
    result = settings_in_fresh_process(
        "config.settings.production",
        "__import__('tests.test_redaction', fromlist=['*']).fail_and_mail()",
        **production_variables(request.param),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_error_mails_to_the_admins_carry_no_secret(failed_in_production):
    mails, _ = failed_in_production

    # One mail per error, and each shows what it must: settings, environment, the exception.
    assert len(mails) == 2
    assert "DATABASES = " in mails[0]
    assert "DATABASE_URL = 'postgres://" in mails[0]
    assert "No answer from " in mails[1]
    assert [leaked(text) for text in mails] == [[], []]


def test_log_lines_carry_no_secret(failed_in_production):
    _, log = failed_in_production

    assert "Connecting to " in log and "A job failed" in log
    assert leaked(log) == []


def fail_with_secrets_in_variables():
    api_token = SECRETS["api"]
    broker = f"amqps://worker:{SECRETS['broker']}@broker.example.com:5671/"
    raise ConnectionError(f"{len(api_token)}, {len(broker)}")


def test_a_tracebacks_variables_are_reported_without_secrets(rf):
    try:
        fail_with_secrets_in_variables()
    except ConnectionError:
        report = ExceptionReporter(rf.get("/"), *sys.exc_info()).get_traceback_html()

    assert "broker.example.com" in report
    assert leaked(report) == []
{%- if cookiecutter.use_sentry %}


@pytest.fixture
def sent_to_sentry():
    """The events Sentry would be sent, kept here instead."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from config.sentry import init_sentry

    events: list[dict] = []

    class Keep(Transport):
        def capture_envelope(self, envelope):
            events.extend(item.payload.json for item in envelope.items if item.type == "event")

    init_sentry(dsn="https://key@sentry.example.com/1", environment="tests", transport=Keep)
    yield events
    # Off again for the tests that follow in this process.
    sentry_sdk.init(dsn="")


def test_events_sent_to_sentry_carry_no_secret(sent_to_sentry):
    import sentry_sdk

    logging.getLogger("config").info("Calling https://api.example.com/?key=%s", SECRETS["api"])
    try:
        fail_with_secrets_in_variables()
    except ConnectionError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()

    sent = json.dumps(sent_to_sentry)
    assert len(sent_to_sentry) == 1
    assert "broker.example.com" in sent and "api.example.com" in sent
    assert leaked(sent) == []
{%- endif %}
