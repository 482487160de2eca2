"""A team connects a vendor of its own, as the baked README tells it to, by writing the client
and its tests, and nothing else: either the vendor it baked the project for (celery-beat here),
or one it adds with `startvendor` (heroku-scheduler).

The vendor is Fake Cloud (tests/fake_cloud), which differs from the example API the way real
ones do, its webhook's signature included. The client and test a team would write for it live
in tests/fake_cloud/team/ and replace what the bake or startvendor generated. Then the project
imports its devices with what they can do, a real Celery worker (celery-beat) or `run_job`
(heroku-scheduler) refreshes them within the vendor's rate limit (the vendor counts), a switch
is confirmed by a later read, the sensor refuses commands, the device the vendor calls offline
is offline, a push signed the vendor's way is stored once, and the project's own suite passes.
The test prints what the team had to write.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from .baking import bake, rendered_answers, run, uv_executable
from .fake_cloud import FakeCloud, serving
from .services import STAFF_TOKEN, deployment, wait_for

pytestmark = pytest.mark.end_to_end

VENDOR_NAME = "Fake Cloud"
VENDOR = "fake_cloud"
KEY = "a-key-of-the-teams-own"
WEBHOOK_SECRET = "a-webhook-secret-of-the-teams-own"
TEAM_FILES = Path(__file__).parent / "fake_cloud" / "team"
# What the team writes, where startvendor put the file it replaces (below the package).
WRITTEN = {
    "fake_cloud.py": "vendors/fake_cloud.py",
    "test_fake_cloud.py": "vendors/tests/test_fake_cloud.py",
}
REDIS_DB = 2
# The vendor's limit, which the team sets as the client's limit too.
REQUESTS_PER_SECOND = 1
ON = {"is_on": True}


def git(root: Path, *arguments: str) -> str:
    identity = ["-c", "user.name=Team", "-c", "user.email=team@example.com"]
    return run(["git", *identity, *arguments], root).stdout


def connect(
    output_dir: Path, scheduler: str, baked_for_it: bool
) -> tuple[Path, list[tuple[str, int, int, int]]]:
    """Bake for Fake Cloud, or bake and run startvendor, and put the team's client and test in
    place of what was written for it.

    Return the project's root and what the team changed after that, as git counts it:
    (path, lines the bake or startvendor wrote, lines removed, lines added) for each file.
    """
    answers = {"scheduler": scheduler} | ({"vendor_name": VENDOR_NAME} if baked_for_it else {})
    root = bake(output_dir, **answers)
    package = root / rendered_answers(**answers)["project_slug"]
    run([uv_executable(), "sync", "--locked", "--quiet"], root)
    if not baked_for_it:
        run([root / ".venv/bin/python", "manage.py", "startvendor", VENDOR_NAME], root)
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "what the team starts from")
    written = {path: len((package / path).read_text().splitlines()) for path in WRITTEN.values()}
    for name, path in WRITTEN.items():
        shutil.copyfile(TEAM_FILES / name, package / path)
    changes = []
    for line in git(root, "diff", "--numstat").splitlines():
        added, removed, path = line.split("\t")
        path = path.split("/", 1)[1]  # below the package
        changes.append((path, written.get(path, 0), int(removed), int(added)))
    return root, changes


class Api:
    """The project's REST API over HTTP, as a staff user."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | list]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)


def refreshed_rounds(app) -> int:
    """Refresh rounds that read all four devices without a failure."""
    return app.scalar(
        "SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all' "
        "AND outcome = 'succeeded' AND devices_refreshed = 4 AND devices_failed = 0"
    )


@dataclass
class Seen:
    """What the project showed of Fake Cloud's devices."""

    imported: list[tuple]
    requested: int  # the answer to a switch of a plug
    command: dict  # that command, settled
    sensor_answer: int  # the answer to a switch of the sensor
    sensor_refusal: dict
    latest: list[dict]
    # The answers to a push, the same push again, and a push with a forged signature.
    pushes: list[tuple[int, dict]]
    pushed_readings: int  # the readings of the pushed device's new temperature


def use_fake_cloud(root: Path, scheduler: str, cloud: FakeCloud, url: str) -> Seen:
    """What a team does first with a new vendor: import its devices, refresh them twice
    (through a worker in celery-beat mode), switch a plug and the sensor, read /api/latest/."""
    slug = rendered_answers(scheduler=scheduler)["project_slug"]

    def next_process() -> None:
        # With heroku-scheduler each step is a process of its own, and a vendor's limits hold
        # within a process (as its README says); Heroku Scheduler's jobs are minutes apart.
        # The steps here are spaced by the vendor's second, so the limit is still seen held.
        if scheduler == "heroku-scheduler":
            time.sleep(1 / REQUESTS_PER_SECOND)

    with deployment(
        root,
        REDIS_DB if scheduler == "celery-beat" else None,
        FAKE_CLOUD_API_URL=url,
        FAKE_CLOUD_API_TOKEN=KEY,
        FAKE_CLOUD_MAX_REQUESTS_PER_SECOND=str(REQUESTS_PER_SECOND),
        FAKE_CLOUD_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as app:
        app.manage("sync_devices", "--vendor", VENDOR)
        imported = app.query(
            "SELECT vendor_device_id, can_switch, reading_names FROM devices_device "
            "WHERE vendor = %s ORDER BY vendor_device_id",
            VENDOR,
        )
        pk = dict(app.query("SELECT vendor_device_id, id FROM devices_device"))
        worker = app.start_worker() if scheduler == "celery-beat" else None
        for round_ in (1, 2):
            if worker:
                task = f"from {slug}.interactions.tasks import refresh_all; refresh_all.delay()"
                app.manage("shell", "-c", task)
            else:
                next_process()
                app.manage("run_job", "refresh_all")
            wait_for(
                lambda round_=round_: refreshed_rounds(app) >= round_,
                timeout=60,
                what=f"refresh round {round_}\n{worker.log[-3000:] if worker else ''}",
            )

        api = Api(app.serve(), app.manage("shell", "-v", "0", "-c", STAFF_TOKEN).stdout.strip())
        next_process()
        requested, command = api.call("POST", f"/api/devices/{pk['plug-b2']}/commands/", ON)
        if not worker:
            # No worker reads the device soon: the next scheduled refresh confirms the command.
            next_process()
            app.manage("run_job", "refresh_all")
        settled = wait_for(
            lambda: settled_command(api, command["id"]), timeout=60, what="the command to settle"
        )
        sensor_answer, refusal = api.call("POST", f"/api/devices/{pk['ht-c3']}/commands/", ON)
        _, latest = api.call("GET", "/api/latest/")

        cloud.devices["plug-a1"].sensors["temperature"] = 233
        cloud.devices["plug-a1"].updated = time.time() + 1
        body = cloud.push_body("plug-a1")
        webhook = f"{api.url}/webhooks/{VENDOR}/"
        pushes = [
            cloud.push(webhook, WEBHOOK_SECRET, body),
            cloud.push(webhook, WEBHOOK_SECRET, body),
            cloud.push(webhook, "a-forger", body.replace(b"233", b"999")),
        ]
        pushed_readings = app.scalar(
            "SELECT count(*) FROM observations_attribute WHERE device_id = %s AND value = 23.3",
            pk["plug-a1"],
        )
    return Seen(
        imported, requested, settled, sensor_answer, refusal, latest, pushes, pushed_readings
    )


def settled_command(api: Api, command_id: int) -> dict | None:
    _, command = api.call("GET", f"/api/commands/{command_id}/")
    return command if command["settled"] else None


@pytest.mark.parametrize(
    ("scheduler", "baked_for_it"), [("celery-beat", True), ("heroku-scheduler", False)]
)
def test_a_team_connects_fake_cloud_by_writing_its_client_and_tests_alone(
    scheduler, baked_for_it, tmp_path
):
    root, changes = connect(tmp_path, scheduler, baked_for_it)
    uv = uv_executable()
    for check in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy", "."]):
        run([uv, "run", *check], root)
    cloud = FakeCloud(key=KEY, max_requests_per_second=REQUESTS_PER_SECOND, switch_delay=0.5)
    with serving(cloud) as url:
        seen = use_fake_cloud(root, scheduler, cloud, url)
    # The tests of the limits across processes need a Redis in celery-beat mode.
    redis = (
        {"REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}"} if scheduler == "celery-beat" else {}
    )
    suite = run([uv, "run", "pytest", "-q", "-p", "no:cacheprovider"], root, **redis)

    assert sorted(path for path, *_ in changes) == sorted(WRITTEN.values())
    assert seen.imported == [
        ("ht-c3", False, ["humidity", "temperature"]),
        ("plug-a1", True, ["temperature"]),
        ("plug-b2", True, ["temperature"]),
        ("plug-d4", True, []),
    ]
    assert (cloud.max_in_one_second, cloud.refused) == (REQUESTS_PER_SECOND, 0)
    assert seen.requested in (201, 202), seen.command
    assert seen.command["state"] == "confirmed", seen.command
    assert cloud.devices["plug-b2"].relay_on is True
    assert seen.sensor_answer == 409, seen.sensor_refusal
    assert {item["name"]: item["online"] for item in seen.latest} == {
        "Kitchen plug": True,
        "Heater plug": True,
        "Cellar sensor": True,
        "Garage plug": False,
    }
    assert seen.pushes == [
        (200, {"devices": 1, "new_rows": 2}),
        (200, {"devices": 0, "new_rows": 0, "delivered_already": True}),
        (403, {"error": "X-Fake-Signature does not match the body"}),
    ]
    assert seen.pushed_readings == 1
    assert " passed" in suite.stdout and "skipped" not in suite.stdout
    start = "the bake" if baked_for_it else "startvendor"
    print(f"\n{VENDOR_NAME} ({scheduler}), what the team changed after {start}:")
    for path, written, removed, added in changes:
        print(f"  {path}: {written} lines written by {start}, {removed} removed, {added} added")
    print(
        f"  {len(changes)} files, {sum(c[3] for c in changes)} lines added and "
        f"{sum(c[2] for c in changes)} removed; the vendor received {sum(cloud.requests.values())} "
        f"requests ({dict(cloud.requests)}), at most {cloud.max_in_one_second} in any second, "
        f"{cloud.refused} refused; the project's suite: {suite.stdout.strip().splitlines()[-1]}"
    )
