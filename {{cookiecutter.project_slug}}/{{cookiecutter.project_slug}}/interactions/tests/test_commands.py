import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ...observations.models import Attribute, Status
from ...observations.partitions import READINGS_TABLES, partitions
from ...vendors.base import UnknownDevice, VendorUnavailable
from ...vendors.models import SimulatedDevice
from ..management.commands import set_status
from ..models import Command, JobRun
from ..schedule import periodic_jobs

pytestmark = pytest.mark.django_db


def run(*arguments) -> str:
    output = StringIO()
    call_command(*arguments, stdout=output, stderr=output)
    return output.getvalue()


def line_of(lines: list[str], job: str) -> str:
    """The line of show_schedule's output about `job`."""
    (line,) = [line for line in lines if f" {job} " in f" {line} "]
    return line


@pytest.mark.django_db(transaction=True)
def test_run_job_refresh_all_refreshes_every_device_and_records_the_run(simulated_devices):
    simulated_devices(4)

    output = run("run_job", "refresh_all")

    assert output.startswith("refresh_all: 4 devices refreshed, 0 failed in ")
    assert Status.objects.values("device").distinct().count() == 4
    job_run = JobRun.objects.get()
    assert (job_run.outcome, job_run.detail) == ("succeeded", "4 devices refreshed, 0 failed")
    assert (job_run.devices_refreshed, job_run.devices_failed) == (4, 0)


def errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
def test_run_job_refresh_all_fails_when_a_batch_fails_and_counts_the_devices(
    troubled_round, caplog
):
    with caplog.at_level(logging.INFO), pytest.raises(CommandError) as failed:
        run("run_job", "refresh_all")

    assert str(failed.value) == f"refresh_all failed: {troubled_round.detail}"
    # For the admins, by mail, as a worker's failed task is.
    assert errors_logged(caplog)[-1] == f"refresh_all failed: {troubled_round.detail}"
    job_run = JobRun.objects.get()
    assert (job_run.outcome, job_run.detail) == (troubled_round.outcome, troubled_round.detail)
    assert (job_run.devices_refreshed, job_run.devices_failed) == (
        troubled_round.refreshed,
        troubled_round.failed,
    )


def test_run_job_runs_a_device_job_on_one_device(simulated_devices):
    device, other = simulated_devices(2)

    run("run_job", "refresh_device", "--device", str(device.pk))

    assert Attribute.objects.filter(device=device).count() == 2
    assert Status.objects.filter(device=device).count() == 1
    assert not Attribute.objects.filter(device=other).exists()


@pytest.mark.django_db(transaction=True)
def test_run_job_with_a_vendor_url_that_is_not_the_api_fails_once_in_one_line(
    live_server, settings, caplog
):
    # The simulator's API on a live server, called by the example API's client (not the
    # team's, which speaks its own vendor's API) with a URL one level too high: every path
    # answers the project's own 404 page.
    options = {
        "base_url": live_server.url + "/vendor-simulator/",
        "api_token": settings.SIMULATOR_API_TOKEN,
    }
    vendor = {"CLIENT": "example_api.ExampleAPIClient", "OPTIONS": options}
    settings.VENDORS = {**settings.VENDORS, "example_api": vendor}
    DeviceFactory.create_batch(4, vendor="example_api")

    with caplog.at_level(logging.INFO), pytest.raises(CommandError) as failed:
        run("run_job", "refresh_all")

    message = (
        "example_api: GET state answered 404 from a server that is not the vendor's API: "
        f"check base_url ({live_server.url}/vendor-simulator/)"
    )
    assert str(failed.value) == f"refresh_all failed: {message}"
    job_run = JobRun.objects.get()
    assert (job_run.outcome, job_run.detail) == ("failed", f"ConfigurationError: {message}")
    assert not Device.objects.exclude(last_error="").exists()
    # One line for the admins, not one per device: the setup is wrong, not the devices.
    assert errors_logged(caplog) == [f"refresh_all failed: {message}"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no_such_job"], "Unknown job 'no_such_job': choose one of refresh_all, "),
        (["refresh_device"], "refresh_device needs --device ID."),
        (["refresh_device", "--device", "999999"], "No device has id 999999."),
        (["refresh_all", "--device", "1"], "refresh_all runs on every device; leave out --device."),
    ],
)
def test_run_job_refuses_a_mistake_with_one_line(arguments, message):
    with pytest.raises(CommandError) as refused:
        run("run_job", *arguments)

    assert str(refused.value).startswith(message)
    assert not JobRun.objects.exists()


def test_run_job_reports_a_vendor_failure_in_one_line_and_records_it(fake_vendor, caplog):
    device = DeviceFactory.create(vendor="fake")
    fake_vendor.fail("read_devices", VendorUnavailable("503 Service Unavailable"))

    with pytest.raises(CommandError, match=r"^refresh_device failed: 503 Service Unavailable$"):
        run("run_job", "refresh_device", "--device", str(device.pk))

    job_run = JobRun.objects.get()
    assert job_run.outcome == "failed"
    assert job_run.detail == "VendorUnavailable: 503 Service Unavailable"
    assert errors_logged(caplog) == ["refresh_device failed: 503 Service Unavailable"]


def test_run_job_refresh_device_fails_when_the_vendor_refuses_the_device(fake_vendor):
    device = DeviceFactory.create(vendor="fake")
    fake_vendor.fail("read_devices", UnknownDevice("no such device"))

    with pytest.raises(CommandError, match=r"^refresh_device failed: no such device$"):
        run("run_job", "refresh_device", "--device", str(device.pk))

    assert JobRun.objects.get().outcome == "failed"


def test_run_job_add_partitions_records_what_it_did(settings):
    # Kept longer than the test database's partitions reach back: the job adds the rest.
    settings.OBSERVATION_RETENTION_DAYS += 2
    before = partition_count()

    run("run_job", "add_partitions")

    job_run = JobRun.objects.get(name="add_partitions")
    assert job_run.outcome == "succeeded"
    if connection.vendor == "postgresql":
        added = partition_count() - before
        assert added >= 2 * 2 and job_run.detail == f"{added} partitions added"
    else:
        assert job_run.detail == "nothing to do: the readings tables are not partitioned (SQLite)"


def partition_count() -> int:
    if connection.vendor != "postgresql":
        return 0
    return sum(len(partitions(table)) for table in READINGS_TABLES)


def test_seed_demo_creates_simulated_devices_with_history_once():
    output = run("seed_demo", "--devices", "3", "--history-days", "1")
    rows = Attribute.objects.count()

    run("seed_demo", "--devices", "3", "--history-days", "1")

    assert "Seeded 3 devices" in output
    assert Device.objects.filter(vendor="simulator").count() == 3
    assert SimulatedDevice.objects.count() == 3
    # One day of readings every 10 minutes, two attributes each.
    assert rows == 3 * 2 * 144
    assert Attribute.objects.count() == rows


def test_seed_demo_with_debug_on_does_not_keep_the_history_statements(settings):
    # DEBUG on, as on a developer's machine, where Django logs every statement it runs.
    settings.DEBUG = True

    run("seed_demo", "--devices", "3", "--history-days", "1")

    statements = [query["sql"] for query in connection.queries]
    assert not [sql for sql in statements if "observations_attribute" in sql]
    assert Attribute.objects.count() == 3 * 2 * 144


@pytest.mark.django_db(transaction=True)
def test_seed_demo_devices_include_sensors_and_one_its_vendor_reports_offline():
    run("seed_demo", "--devices", "12", "--history-days", "0")

    run("run_job", "refresh_all")

    sensors = Device.objects.filter(can_switch=False)
    assert [d.vendor_device_id for d in sensors] == ["sim-00006", "sim-00012"]
    assert {tuple(d.reading_names) for d in sensors} == {("temperature",)}
    assert not Status.objects.filter(device__in=sensors).exists()
    assert [d.vendor_device_id for d in Device.objects.offline()] == ["sim-00011"]
    assert Device.objects.online().count() == 11


def test_seed_demo_without_history_adds_devices_only():
    run("seed_demo", "--devices", "2", "--history-days", "0")

    assert Device.objects.count() == 2
    assert not Attribute.objects.exists() and not Status.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--devices", "0"], "--devices 0: give a number from 1 to 100000."),
        (["--history-days", "-1"], "--history-days -1.0: give a number from 0 to 3650."),
    ],
)
def test_seed_demo_refuses_numbers_out_of_range(arguments, message):
    with pytest.raises(CommandError, match=message):
        run("seed_demo", *arguments)


@pytest.mark.django_db(transaction=True)
def test_set_status_switches_a_device_and_waits_for_the_vendor(simulated_devices):
    (device,) = simulated_devices(1)

    output = run("set_status", str(device.pk), "off")

    assert output.strip().endswith("confirmed")
    assert Command.objects.get().state == Command.State.CONFIRMED
    assert SimulatedDevice.objects.get().is_on is False
    assert device.statuses.latest().is_on is False


def test_set_status_of_an_unknown_device_is_one_line():
    with pytest.raises(CommandError, match=r"^No device has id 424242\.$"):
        run("set_status", "424242", "on")


def test_set_status_of_a_sensor_is_one_line():
    sensor = DeviceFactory.create(name="Cellar", can_switch=False)

    with pytest.raises(CommandError, match=r"^Cellar cannot be switched on or off: .*sensor\.$"):
        run("set_status", str(sensor.pk), "on")

    assert not Command.objects.exists()


def test_set_status_not_confirmed_in_time_fails_saying_the_command_goes_on(monkeypatch):
    device = DeviceFactory.create()
    # A vendor that has not answered yet: the command stays queued.
    queued = Command.objects.create(device=device, is_on=True)
    monkeypatch.setattr(set_status, "request_status", lambda device, is_on: (queued, True))

    with pytest.raises(CommandError, match=rf"^Command {queued.pk} is queued, not confirmed"):
        run("set_status", str(device.pk), "on", "--wait", "0.3")
{%- if cookiecutter.scheduler == "celery-beat" %}


def test_show_schedule_prints_each_job_with_its_next_run():
    JobRun.objects.create(name="refresh_all", outcome="succeeded")

    lines = run("show_schedule").splitlines()

    assert lines[0].split() == ["job", "every", "last", "run", "next", "run"]
    assert [line.split()[0] for line in lines[1:]] == [job.name for job in periodic_jobs()]
    refresh, prune = (line_of(lines, name) for name in ("refresh_all", "prune_observations"))
    assert "1 min" in refresh and "succeeded" in refresh
    assert "1 d" in prune and "never" in prune and "due now" in prune
{%- else %}


def test_show_schedule_prints_the_heroku_scheduler_entries():
    lines = run("show_schedule").splitlines()

    for job in periodic_jobs():
        assert f"python manage.py run_job {job.name} " in line_of(lines, job.name)
    assert line_of(lines, "refresh_all").startswith("  Every 10 minutes  python manage.py")
    assert line_of(lines, "prune_observations").startswith("  Every day         python manage.py")


{%- if cookiecutter.use_sentry %}


@pytest.fixture
def check_ins(monkeypatch):
    """What run_job tells Sentry Crons, instead of telling it."""
    sent = []
    monkeypatch.setattr(
        "sentry_sdk.crons.decorator.capture_checkin", lambda **check_in: sent.append(check_in)
    )
    return sent


def test_run_job_checks_in_to_the_jobs_sentry_crons_monitor(check_ins):
    run("run_job", "check_health")

    assert [(c["monitor_slug"], c["status"]) for c in check_ins] == [
        ("check_health", "in_progress"),
        ("check_health", "ok"),
    ]
    schedule = check_ins[0]["monitor_config"]["schedule"]
    assert schedule == {"type": "interval", "value": 10, "unit": "minute"}


# Committed: refresh_all reads the devices from threads with connections of their own.
@pytest.mark.django_db(transaction=True)
def test_a_failed_run_checks_in_as_an_error(check_ins, fake_vendor, settings):
    DeviceFactory.create(vendor="fake")
    # Down for the whole run: its first read and every retry.
    down = [VendorUnavailable("503 Service Unavailable")] * (settings.VENDOR_MAX_RETRIES + 1)
    fake_vendor.fail("read_devices", *down)

    with pytest.raises(CommandError):
        run("run_job", "refresh_all")

    assert [c["status"] for c in check_ins] == ["in_progress", "error"]


def test_a_device_job_has_no_crons_monitor(check_ins, simulated_devices):
    (device,) = simulated_devices(1)

    run("run_job", "refresh_device", "--device", str(device.pk))

    assert check_ins == []
{%- endif %}


def test_show_schedule_says_when_heroku_cannot_run_a_job_as_often(settings):
    settings.MONITOR_INTERVAL_SECONDS = 60

    output = run("show_schedule")

    assert "refresh_all is set to run every 0:01:00, more often than Heroku Scheduler can" in output
{%- endif %}
