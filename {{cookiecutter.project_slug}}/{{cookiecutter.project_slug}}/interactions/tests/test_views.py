"""GET /health/: 200 when everything works, 503 naming what does not; no sign-in needed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from ..models import JobRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def minute_intervals(settings):
    settings.MONITOR_INTERVAL_SECONDS = 60


def succeeded(name: str, ago: timedelta) -> JobRun:
    return JobRun.objects.create(
        name=name, started_at=timezone.now() - ago, outcome=JobRun.Outcome.SUCCEEDED
    )


def test_health_is_200_when_everything_works(client, minute_intervals):
    succeeded("refresh_all", timedelta(seconds=30))

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    refresh = body["checks"]["refresh_all"]
    assert (refresh["ok"], refresh["every_seconds"]) == (True, 60)
    assert 30 <= refresh["age_seconds"] < 40
    assert body["checks"]["database"] == {"ok": True}
    assert "no-cache" in response["Cache-Control"]


def test_health_is_503_when_a_job_has_not_succeeded_within_twice_its_interval(
    client, minute_intervals
):
    succeeded("refresh_all", timedelta(minutes=3))
    succeeded("check_health", timedelta(seconds=30))

    response = client.get("/health/")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["refresh_all"]["ok"] is False
    assert 180 <= checks["refresh_all"]["age_seconds"] < 190
    assert checks["check_health"]["ok"] is True


def test_health_is_503_naming_the_database_when_it_fails(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("host gone")):
        response = client.get("/health/")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert "refresh_all" not in checks  # read from the database, which does not answer
{%- if cookiecutter.scheduler == "celery-beat" %}


def test_health_is_503_naming_the_broker_when_it_does_not_answer(client, monkeypatch):
    from kombu import Connection

    from config import celery_app

    closed_port = Connection("redis://127.0.0.1:9/0")
    monkeypatch.setattr(celery_app, "connection_for_write", lambda **options: closed_port)

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "ConnectionError"}
{%- endif %}
