"""A Heroku-like deploy of each scheduler's project: built from the committed files as
`git push heroku` builds it, then each Procfile process started by its own line, with only
what Heroku sets (DYNO, PORT, the add-ons' URLs) and what the README's deploy guide sets."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr
from pathlib import Path

import pytest
import redis

from .baking import bake, project_environment, require_service, run, uv_executable
from .environment import EXAMPLE_VALUES, example_values, guide_variables, procfile
from .services import (
    HerokuApp,
    ProjectProcess,
    answered_by,
    free_port,
    postgres_database,
    smtp_sink,
    stopped_by_itself,
    vendor_without_devices,
    wait_for,
)
from .variants import BAKED_SUITES, CELERY_ALL_ON

pytestmark = pytest.mark.end_to_end

# Redis databases of these tests alone: 9 for the deploys, 10 for Flower.
DEPLOY_REDIS_URL = "redis://127.0.0.1:6379/9"
FLOWER_REDIS_URL = "redis://127.0.0.1:6379/10"
APP_HOST = "iot-deploy-test.herokuapp.com"
ADMIN = parseaddr(EXAMPLE_VALUES["DJANGO_ADMINS"])[1]
DEVICES = 5
HTTPS = {"X-Forwarded-Proto": "https"}
# Not from the guide: a refresh every 2 s, so that the test sees several.
TEST_KNOBS = {"MONITOR_INTERVAL_SECONDS": "2", "SIMULATOR_READING_PERIOD": "1"}


def git(repository: Path, *arguments: str) -> None:
    identity = ["-c", "user.name=Deploy test", "-c", "user.email=deploy@example.com"]
    run(["git", *identity, *arguments], repository)


@pytest.fixture(params=list(BAKED_SUITES), ids=list(BAKED_SUITES))
def heroku_app(request, tmp_path):
    answers = BAKED_SUITES[request.param]
    celery = answers["scheduler"] == "celery-beat"
    if celery:
        require_service("Redis")
        redis.Redis.from_url(DEPLOY_REDIS_URL).flushdb()
    project = bake(tmp_path / "bake", **answers)
    git(project, "init", "--quiet", "--initial-branch", "main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "Baked")
    # Only what was committed travels: .env, for one, is git-ignored.
    run(["git", "clone", "--quiet", str(project), str(tmp_path / "app")], tmp_path)
    root = tmp_path / "app"
    guide = guide_variables((root / "README.md").read_text())
    with (
        smtp_sink() as (smtp_port, mail),
        postgres_database("deploy") as database_url,
        vendor_without_devices() as vendor_api,
    ):
        config_vars = example_values(guide, EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}") | {
            "DATABASE_URL": database_url,
            **({"REDIS_URL": DEPLOY_REDIS_URL} if celery else {}),
        }
        config_vars |= answered_by(vendor_api, config_vars)
        app = HerokuApp(root, config_vars)
        app.build()
        try:
            yield app, mail
        finally:
            app.stop()
            if celery:
                redis.Redis.from_url(DEPLOY_REDIS_URL).flushdb()


def test_a_heroku_deploy_runs_every_process_on_production_settings(heroku_app):
    app, mail = heroku_app
    assert not (app.root / ".env").exists()
    # Production runs without the dev group: the build above left it out.
    assert not (app.root / ".venv/bin/pytest").exists()

    release = app.run(app.procfile["release"], dyno="release.1")
    assert "Applying devices.0001_initial... OK" in release.stdout
    settings_module = "from django.conf import settings; print(settings.SETTINGS_MODULE)"
    shell = app.run(f'python manage.py shell --verbosity 0 -c "{settings_module}"')
    assert shell.stdout.strip() == "config.settings.production"
    check = app.run("python manage.py check --deploy --fail-level WARNING")
    assert "System check identified no issues" in check.stdout

    web_serves_the_admin_and_static_files_over_https(app)
    alerts_reach_the_admins(app, mail)
    app.run(f"python manage.py seed_demo --devices {DEVICES} --history-days 0")
    if "worker" in app.procfile:
        worker_and_beat_refresh_the_devices(app)
    else:
        scheduler_jobs_refresh_the_devices(app)
    app.stop()
    a_missing_variable_stops_every_process_in_one_line(app)


def fetch(port: int, path: str, **headers: str) -> tuple[int, http.client.HTTPMessage, str]:
    """GET through Heroku's router, in effect: TLS ends there, and it says so in a header."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": APP_HOST, **headers})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode(errors="replace")
    finally:
        connection.close()


def answering(port: int):
    try:
        return fetch(port, "/admin/login/", **HTTPS)
    except OSError:
        return None


def web_serves_the_admin_and_static_files_over_https(app: HerokuApp) -> None:
    port = free_port()
    web = app.start("web", PORT=str(port))

    status, headers, page = wait_for(lambda: answering(port), 60, f"web on {port}: {web.log_path}")
    plain_status, plain_headers, _ = fetch(port, "/admin/login/")
    static = re.search(r'href="(/static/admin/css/base\.\w+\.css)"', page).group(1)
    static_status, static_headers, _ = fetch(port, static, **HTTPS)

    assert status == 200 and "csrfmiddlewaretoken" in page
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert (plain_status, plain_headers["Location"]) == (301, f"https://{APP_HOST}/admin/login/")
    assert static_status == 200 and "immutable" in static_headers["Cache-Control"]
    assert "web started with config.settings.production" in web.log


def alerts_reach_the_admins(app: HerokuApp, mail: list) -> None:
    sent = app.run("python manage.py send_test_alert")
    # A port where nothing listens: a mail server that refuses.
    closed = f"smtp://127.0.0.1:{free_port()}"
    refused = app.attempt("python manage.py send_test_alert", "run.2", EMAIL_URL=closed)

    assert sent.stdout.startswith(f"Test alert sent to {ADMIN} through ")
    assert [(to, m["Subject"]) for to, m in mail if "Test alert" in m["Subject"]] == [
        (
            [ADMIN],
            "[Django] ERROR: Test alert from manage.py send_test_alert: ERROR logs reach you.",
        )
    ]
    assert refused.returncode == 1
    assert one_line_naming("CommandError: The test alert was not sent", refused)


def one_line_naming(text: str, result: subprocess.CompletedProcess) -> bool:
    output = result.stdout + result.stderr
    naming = [line for line in output.splitlines() if text in line]
    return "Traceback" not in output and len(naming) == 1


def ended(result: subprocess.CompletedProcess) -> str:
    if result.returncode is None:
        return "still running after a minute"
    return f"exited {result.returncode}"


def refreshed_devices(app: HerokuApp) -> int:
    """Devices with a status and a reading stored."""
    return min(
        app.scalar(f"SELECT count(DISTINCT device_id) FROM observations_{table}")
        for table in ("status", "attribute")
    )


def worker_and_beat_refresh_the_devices(app: HerokuApp) -> None:
    worker = app.start("worker", **TEST_KNOBS)
    beat = app.start("beat", **TEST_KNOBS)

    wait_for(
        lambda: refreshed_devices(app) == DEVICES,
        90,
        f"a scheduled refresh of every device: {worker.log_path}, {beat.log_path}",
    )

    assert app.scalar("SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all'") >= 1
    for process in (worker, beat):
        assert f"{process.name} started with config.settings.production" in process.log


def scheduler_jobs_refresh_the_devices(app: HerokuApp) -> None:
    jobs = re.findall(
        r"python manage\.py run_job \w+", app.run("python manage.py show_schedule").stdout
    )
    assert "python manage.py run_job refresh_all" in jobs

    for number, job in enumerate(jobs, start=1):
        app.run(job, dyno=f"scheduler.{number}")

    assert refreshed_devices(app) == DEVICES
    succeeded = "SELECT count(DISTINCT name) FROM interactions_jobrun WHERE outcome = 'succeeded'"
    assert app.scalar(succeeded) == len(jobs)


def a_missing_variable_stops_every_process_in_one_line(app: HerokuApp) -> None:
    """Each Procfile line and a Scheduler job, without a variable production settings read
    (EMAIL_URL) and without one a system check requires (the vendor's URL)."""
    vendor_url = next(name for name in app.config_vars if name.endswith("_API_URL"))
    commands = {f"{name}.1": line for name, line in app.procfile.items()}
    commands["scheduler.1"] = "python manage.py run_job refresh_all"
    cases = [(dyno, variable) for dyno in commands for variable in ("EMAIL_URL", vendor_url)]

    def start_without(case: tuple[str, str]) -> subprocess.CompletedProcess:
        dyno, variable = case
        return app.attempt(commands[dyno], dyno, variable, PORT=str(free_port()))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(start_without, cases))

    failures = [
        f"{dyno} without {variable}: {ended(result)}\n{(result.stdout + result.stderr)[-3000:]}"
        for (dyno, variable), result in zip(cases, results, strict=True)
        if result.returncode in (0, None) or not one_line_naming(variable, result)
    ]
    assert failures == []


def test_flower_runs_from_procfile_dev_only_behind_the_password_in_its_variable(tmp_path):
    require_service("Redis")
    project = bake(tmp_path, **CELERY_ALL_ON)
    run([uv_executable(), "sync", "--no-default-groups", "--quiet"], project)
    line = procfile(project / "Procfile.dev")["flower"]
    port = free_port()
    variables = {
        "PATH": f"{project / '.venv/bin'}:{os.environ['PATH']}",
        "REDIS_URL": FLOWER_REDIS_URL,
        "FLOWER_PORT": str(port),
    }
    # As honcho runs each line of Procfile.dev: through sh.
    refused = stopped_by_itself(
        ["sh", "-c", line], project, project_environment(project, **variables)
    )
    flower = ProjectProcess(
        project, "flower", ["sh", "-c", line], {**variables, "FLOWER_BASIC_AUTH": "admin:s3cret"}
    )
    try:
        anonymous = wait_for(lambda: flower_status(port), 60, f"Flower: {flower.log_path}")
        signed_in = flower_status(port, "admin:s3cret")
        wrong_password = flower_status(port, "admin:guess")
    finally:
        flower.stop()

    assert refused.returncode not in (0, None)
    assert refused.stderr.strip().endswith(
        "FLOWER_BASIC_AUTH: set FLOWER_BASIC_AUTH=user:password in .env to run Flower"
    )
    assert (anonymous, signed_in, wrong_password) == (401, 200, 401)


def flower_status(port: int, credentials: str = "") -> int | None:
    headers = {"Authorization": "Basic " + b64encode(credentials.encode()).decode()}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers=headers if credentials else {})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()
