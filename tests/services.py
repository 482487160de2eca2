"""Real processes of a baked project, and direct looks into its PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import redis

from .baking import (
    POSTGRES_URL,
    project_environment,
    require_service,
    run,
    unavailable,
    uv_executable,
)
from .environment import procfile

# A `manage.py shell -c` snippet: a staff user, and the API token it prints.
STAFF_TOKEN = (
    "from django.contrib.auth import get_user_model; "
    "from rest_framework.authtoken.models import Token; "
    "user = get_user_model().objects.create_user('ann', is_staff=True); "
    "print(Token.objects.create(user=user).key)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards; yields its URL."""
    require_service("PostgreSQL")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.5):
    """Poll until `condition()` is truthy and return it; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


class _SMTPSession(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's SMTP backend: every message is accepted and kept."""

    def handle(self) -> None:
        self.reply("220 sink")
        recipients: list[str] = []
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"RCPT":
                recipients.append(line.decode().partition(":")[2].strip(" <>\r\n"))
            if verb == b"DATA":
                self.reply("354 end with .")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                message = message_from_bytes(data, policy=policy.default)
                self.server.messages.append((recipients, message))
                recipients = []
            if verb == b"QUIT":
                self.reply("221 bye")
                return
            self.reply("250 ok")

    def reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())


@contextmanager
def smtp_sink() -> Iterator[tuple[int, list[tuple[list[str], Message]]]]:
    """A mail server on loopback that keeps what it receives; yields its port and messages."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPSession) as server:
        server.messages = []
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1], server.messages
        finally:
            server.shutdown()


class ProjectProcess:
    """A long-running command of a baked project (worker, beat, server) with its own log."""

    def __init__(self, project: Path, name: str, command: list[str], variables: dict[str, str]):
        self.name = name
        self.log_path = project / f"{name}.log"
        with self.log_path.open("w") as log:
            self.popen = subprocess.Popen(
                command,
                cwd=project,
                env=project_environment(project, **variables),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL, as a crashed machine would: no clean shutdown, no acknowledgements."""
        self._signal(signal.SIGKILL)
        self.popen.wait(timeout=20)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if the process has not ended 20 s later; a Celery process
        stuck that long first writes every thread's stack to its log (SIGUSR1)."""
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGUSR1)
            time.sleep(2)
            self.kill()

    def _signal(self, number: int) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, number)


class OwnServer:
    """A server of the test's own on a free port, stopped and started again at will: `command`
    starts it in the foreground, `answers` says whether it serves yet."""

    def __init__(self, executable: str, package: str):
        if shutil.which(executable) is None:
            unavailable(f"{executable} is not installed", f"apt-get install {package}")
        self.executable = executable
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [self.executable]

    def answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        wait_for(self.answers, 10, f"{self.executable} on port {self.port}", poll=0.1)

    def stop(self) -> None:
        """SIGTERM, which each server takes as its clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Deployment:
    """A baked project on a database and a Redis database of its own, with its processes;
    without Redis when `redis_db` is None (heroku-scheduler mode)."""

    def __init__(self, project: Path, database_url: str, redis_db: int | None, **variables: str):
        self.project = project
        self.database_url = database_url
        self.redis_url = None if redis_db is None else f"redis://127.0.0.1:6379/{redis_db}"
        self.variables = {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": self.database_url,
            **({} if self.redis_url is None else {"REDIS_URL": self.redis_url}),
            **variables,
        }
        self.processes: list[ProjectProcess] = []
        self._flush_redis()
        self.manage("migrate", "--verbosity", "0")

    def manage(self, *arguments: str) -> subprocess.CompletedProcess:
        python = str(self.project / ".venv/bin/python")
        return run([python, "manage.py", *arguments], self.project, timeout=300, **self.variables)

    def start(self, name: str, *celery_arguments: str) -> ProjectProcess:
        process = ProjectProcess(
            self.project,
            name,
            [self.project / ".venv/bin/celery", "--app", "config", *celery_arguments],
            self.variables,
        )
        self.processes.append(process)
        return process

    def start_worker(self, name: str = "worker", concurrency: int = 4) -> ProjectProcess:
        return self.start(
            name,
            "worker",
            "--queues",
            "control,monitor",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
        )

    def start_beat(self, name: str = "beat") -> ProjectProcess:
        return self.start(name, "beat", "--loglevel", "INFO")

    def serve(self) -> str:
        """The development server on a free loopback port; its URL once it answers."""
        port = free_port()
        python = self.project / ".venv/bin/python"
        command = [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        web = ProjectProcess(self.project, "web", command, self.variables)
        self.processes.append(web)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{url}/admin/login/"), 60, f"the web server\n{web.log[-3000:]}")
        return url

    def serve_web(self) -> str:
        """The Procfile's web process (gunicorn), as a dyno runs it, on a free loopback port;
        its URL once it answers."""
        port = free_port()
        command = f"{procfile(self.project / 'Procfile')['web']} --bind 127.0.0.1:{port}"
        path = f"{self.project / '.venv/bin'}:{os.environ['PATH']}"
        web = ProjectProcess(
            self.project, "gunicorn", ["bash", "-c", command], {**self.variables, "PATH": path}
        )
        self.processes.append(web)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{url}/health/"), 60, f"gunicorn\n{web.log[-3000:]}")
        return url

    def query(self, sql: str, *parameters) -> list[tuple]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(sql, parameters).fetchall()

    def scalar(self, sql: str, *parameters):
        return self.query(sql, *parameters)[0][0]

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self._flush_redis()

    def _flush_redis(self) -> None:
        if self.redis_url is not None:
            require_service("Redis")
            redis.Redis.from_url(self.redis_url).flushdb()


@contextmanager
def deployment(project: Path, redis_db: int | None, database_prefix: str = "e2e", **variables: str):
    with postgres_database(database_prefix) as database_url:
        running = Deployment(project, database_url, redis_db, **variables)
        try:
            yield running
        finally:
            running.close()


class HerokuApp:
    """What `git push heroku` built from the committed files, and its dynos."""

    def __init__(self, root: Path, config_vars: dict[str, str]):
        self.root = root
        self.config_vars = config_vars
        self.procfile = procfile(root / "Procfile")
        self.processes: list[ProjectProcess] = []

    def build(self) -> None:
        """As Heroku's Python buildpack does: install from uv.lock, then collect static files,
        with the config vars but on no dyno."""
        run([uv_executable(), "sync", "--locked", "--no-default-groups", "--quiet"], self.root)
        self.run("python manage.py collectstatic --noinput", dyno=None)

    def environment(self, dyno: str | None, **variables: str) -> dict[str, str]:
        path = f"{self.root / '.venv/bin'}:{os.environ['PATH']}"
        return {**self.config_vars, **({"DYNO": dyno} if dyno else {}), "PATH": path, **variables}

    def run(self, command: str, dyno: str | None = "run.1", **variables: str):
        """A one-off dyno (`heroku run`), or a Scheduler job: bash -c, as Heroku runs it."""
        return run(["bash", "-c", command], self.root, 300, **self.environment(dyno, **variables))

    def attempt(self, command: str, dyno: str, unset: str = "", **variables: str):
        """Start a command that should stop by itself, without the variable `unset`."""
        environment = project_environment(self.root, **self.environment(dyno, **variables))
        environment.pop(unset, None)
        return stopped_by_itself(["bash", "-c", command], self.root, environment)

    def start(self, process: str, name: str = "", **variables: str) -> ProjectProcess:
        """A dyno of the Procfile's process, started by its own line; `name` names its log
        when another dyno of the process ran before it."""
        started = ProjectProcess(
            self.root,
            name or process,
            ["bash", "-c", self.procfile[process]],
            self.environment(f"{process}.1", **variables),
        )
        self.processes.append(started)
        return started

    def scalar(self, sql: str, *parameters):
        with psycopg.connect(self.config_vars["DATABASE_URL"]) as connection:
            return connection.execute(sql, parameters).fetchone()[0]

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def stopped_by_itself(command: list[str], cwd: Path, environment: dict[str, str]):
    """Run a command that should stop by itself; its return code is None if it was still
    running after a minute, when it and its children were killed."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        process.returncode = None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@contextmanager
def vendor_without_devices() -> Iterator[str]:
    """The example API the first vendor's client speaks as baked, for an account with no
    devices yet; yields its base URL."""

    class ExampleAPI(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.rstrip("/").endswith("/devices")
            body = json.dumps({"devices": []} if found else {"error": "not found"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *arguments: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ExampleAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/"
    finally:
        server.shutdown()


def answered_by(vendor_api: str, config_vars: dict[str, str]) -> dict[str, str]:
    """The vendors' base URLs in `config_vars`, pointed at `vendor_api`: the team's vendor
    answers, as it does once its variables are set, and sync_devices, which lists every
    vendor's devices, has an account to read."""
    return {name: vendor_api for name in config_vars if name.endswith("_API_URL")}


# The simulated fleet seed_demo builds has sensors, with no switch and so no status, and a
# device its vendor reports offline, which reports nothing.
REPORTING_DEVICES = "SELECT count(*) FROM vendors_simulateddevice WHERE can_switch AND online"


def reporting_devices(app: Deployment | HerokuApp) -> int:
    """Simulated devices that report a status: neither sensors nor offline."""
    return app.scalar(REPORTING_DEVICES)
