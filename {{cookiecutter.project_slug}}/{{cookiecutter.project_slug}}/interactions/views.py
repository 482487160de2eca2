"""GET /health/: whether the project works, for an uptime monitor to poll.

A scheduler that died cannot report it, nor can the jobs it no longer runs: this endpoint is
seen from outside. It answers 200 when every check passes and 503 when one fails, in JSON,
without authentication, in a few cheap queries: the database{% if cookiecutter.scheduler == "celery-beat" %}, the broker{% endif %}, and each periodic
job's last success against its interval (overdue as health.job_health defines it).
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
{%- if cookiecutter.scheduler == "celery-beat" %}
from kombu.exceptions import OperationalError

from config import celery_app
{%- endif %}

from .health import job_health


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check()}
{%- if cookiecutter.scheduler == "celery-beat" %}
    checks["broker"] = broker_check()
{%- endif %}
    if checks["database"]["ok"]:
        checks |= job_checks()
    ok = all(check["ok"] for check in checks.values())
    response = JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)
    if not ok:
        # A warning, not the ERROR Django logs a 503 with: it is the monitor's to alert, and
        # what failed raises its own alerts.
        failing = ", ".join(name for name, check in checks.items() if not check["ok"])
        log_response("Unhealthy: %s", failing, response=response, request=request, level="warning")
    return response


def database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        # The error's class only: its message may name hosts and users.
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}
{%- if cookiecutter.scheduler == "celery-beat" %}


def broker_check() -> dict:
    # One quick try: a monitor polls again, and must not wait on a broker that hangs.
    options = {"socket_connect_timeout": 3, "socket_timeout": 3}
    try:
        with celery_app.connection_for_write(transport_options=options) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    except OperationalError as error:
        return {"ok": False, "error": type(error.__cause__ or error).__name__}
    return {"ok": True}
{%- endif %}


def job_checks() -> dict:
    now = timezone.now()
    checks = {}
    for health in job_health(now):
        succeeded_at = health.last_success and health.last_success.started_at
        checks[health.job.name] = {
            "ok": not health.overdue,
            "every_seconds": health.job.every.total_seconds(),
            "last_success": succeeded_at and succeeded_at.isoformat(),
            "age_seconds": succeeded_at and round((now - succeeded_at).total_seconds()),
        }
    return checks
