import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory
from ..health import check_health, job_health, silent_devices
from ..models import Alert, JobRun, WebhookDelivery
from ..schedule import periodic_job, periodic_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def minute_intervals(settings):
    settings.MONITOR_INTERVAL_SECONDS = 60
    settings.SILENT_AFTER_INTERVALS = 3


def test_a_device_unheard_for_the_limit_is_silent(minute_intervals):
    now = timezone.now()
    heard = DeviceFactory.create(last_seen_at=now - timedelta(minutes=2))
    silent = DeviceFactory.create(last_seen_at=now - timedelta(minutes=4))

    assert list(silent_devices(now)) == [silent]
    assert heard not in silent_devices(now)


def test_a_new_device_is_not_silent_before_it_had_the_chance(minute_intervals):
    device = DeviceFactory.create(last_seen_at=None)

    assert device not in silent_devices(timezone.now())
    assert device in silent_devices(timezone.now() + timedelta(minutes=4))


def test_a_silent_device_raises_one_alert_not_one_per_check(minute_intervals, caplog):
    device = DeviceFactory.create(last_seen_at=timezone.now() - timedelta(hours=1))

    with caplog.at_level(logging.ERROR):
        first = check_health()
        second = check_health()
        third = check_health(timezone.now() + timedelta(minutes=5))

    assert len(first) == 1 and second == [] and third == []
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.is_open) == ("devices_silent", device.vendor, True)
    assert len([r for r in caplog.records if str(device) in r.getMessage()]) == 1


def test_the_silent_devices_of_a_vendor_are_one_alert_that_counts_them(minute_intervals, caplog):
    long_ago = timezone.now() - timedelta(hours=1)
    DeviceFactory.create_batch(7, vendor="simulator", last_seen_at=long_ago)
    DeviceFactory.create(vendor="simulator", last_seen_at=timezone.now())
    DeviceFactory.create(vendor="other", last_seen_at=long_ago)

    with caplog.at_level(logging.ERROR):
        opened = check_health()

    alerts = dict(Alert.objects.values_list("subject", "message"))
    assert len(opened) == 2 and set(alerts) == {"simulator", "other"}
    assert alerts["simulator"].startswith("7 of 8 devices of vendor simulator are silent, ")
    assert alerts["simulator"].endswith(" and 2 more.")
    assert alerts["other"].startswith("1 of 1 devices of vendor other are silent, ")
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith("Health check: ")


def test_an_alert_is_mailed_again_when_its_devices_double(minute_intervals, caplog):
    long_ago = timezone.now() - timedelta(hours=1)
    devices = DeviceFactory.create_batch(5, vendor="simulator", last_seen_at=timezone.now())

    def silent(count):
        for device in devices[:count]:
            device.last_seen_at = long_ago
            device.save()
        with caplog.at_level(logging.ERROR):
            caplog.clear()
            notified = check_health()
        return len(notified), len(caplog.records)

    assert silent(1) == (1, 1)
    assert silent(1) == (0, 0)
    assert silent(3) == (1, 1)  # 3 is at least twice the 1 mailed
    assert silent(5) == (0, 0)  # 5 is not twice the 3 mailed
    alert = Alert.objects.get()
    assert alert.message.startswith("5 of 5 devices")  # the message follows the count
    assert alert.notified_count == 3


def test_the_alert_is_resolved_when_the_device_is_heard_again(minute_intervals):
    device = DeviceFactory.create(last_seen_at=timezone.now() - timedelta(hours=1))
    check_health()

    device.last_seen_at = timezone.now()
    device.save()
    check_health()

    assert Alert.objects.get().resolved_at is not None
    # Silent again later: a new alert, since the first one ended.
    device.last_seen_at = timezone.now() - timedelta(hours=1)
    device.save()
    assert len(check_health()) == 1


def test_a_job_without_a_success_in_twice_its_interval_is_overdue(minute_intervals):
    now = timezone.now()
    JobRun.objects.create(
        name="refresh_all", started_at=now - timedelta(minutes=3), outcome="succeeded"
    )
    JobRun.objects.create(
        name="refresh_all", started_at=now - timedelta(minutes=1), outcome="failed"
    )

    refresh = next(h for h in job_health(now) if h.job.name == "refresh_all")

    assert refresh.overdue
    assert refresh.last_run is not None
    assert refresh.last_run.outcome == "failed"
    assert (
        check_health(now)
        and Alert.objects.filter(kind="job_overdue", subject="refresh_all").exists()
    )


def test_a_job_that_succeeded_recently_is_not_overdue(minute_intervals):
    now = timezone.now()
    JobRun.objects.create(
        name="refresh_all", started_at=now - timedelta(seconds=90), outcome="succeeded"
    )

    refresh = next(h for h in job_health(now) if h.job.name == "refresh_all")

    assert not refresh.overdue


def test_no_job_is_overdue_before_the_schedule_ran_at_all(minute_intervals):
    overdue = {health.job.name: health.overdue for health in job_health(timezone.now())}

    # Every periodic job is listed, none of them overdue (and the schedule is not empty).
    assert overdue == dict.fromkeys((job.name for job in periodic_jobs()), False) != {}


def test_a_run_that_never_recorded_its_end_is_settled_as_failed_once_it_is_lost(
    minute_intervals,
):
    now = timezone.now()
    lost_after = periodic_job("refresh_all").lost_after
    second = timedelta(seconds=1)
    lost = JobRun.objects.create(name="refresh_all", started_at=now - lost_after - second)
    running = JobRun.objects.create(name="refresh_all", started_at=now - lost_after + second)

    check_health(now)

    lost.refresh_from_db()
    running.refresh_from_db()
    assert (lost.outcome, lost.detail) == (
        "failed",
        f"not finished within {lost_after.total_seconds():g} s: its process stopped",
    )
    assert lost.finished_at is not None
    assert running.outcome == "running"


def test_devices_their_vendor_reports_offline_are_one_alert_per_vendor(minute_intervals, caplog):
    now = timezone.now()
    DeviceFactory.create(name="Down 1", vendor="simulator", last_seen_at=now, reported_online=False)
    DeviceFactory.create(name="Down 2", vendor="simulator", last_seen_at=now, reported_online=False)
    DeviceFactory.create(vendor="simulator", last_seen_at=now, reported_online=True)
    DeviceFactory.create(vendor="simulator", last_seen_at=now, reported_online=None)

    with caplog.at_level(logging.ERROR):
        opened = check_health()
        again = check_health()

    assert len(opened) == 1 and again == []
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.notified_count) == ("devices_offline", "simulator", 2)
    assert alert.message == (
        "2 of 4 devices of vendor simulator are offline, says the vendor: Down 1, Down 2."
    )
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "offline, says the vendor" in record.getMessage()


def test_the_offline_alert_is_resolved_when_the_vendor_reports_the_device_online(
    minute_intervals,
):
    device = DeviceFactory.create(last_seen_at=timezone.now(), reported_online=False)
    check_health()

    device.reported_online = True
    device.save()
    check_health()

    assert Alert.objects.get().resolved_at is not None


def test_a_device_reported_offline_and_silent_is_counted_once_as_silent(minute_intervals):
    DeviceFactory.create(last_seen_at=timezone.now() - timedelta(hours=1), reported_online=False)

    check_health()

    assert list(Alert.objects.values_list("kind", flat=True)) == ["devices_silent"]


def test_a_vendor_outage_neither_ends_nor_opens_again_the_offline_alert(minute_intervals):
    now = timezone.now()
    DeviceFactory.create(name="Down", vendor="simulator", last_seen_at=now, reported_online=False)
    DeviceFactory.create(name="Up", vendor="simulator", last_seen_at=now, reported_online=True)
    (offline,) = check_health(now)

    # The vendor answers nothing for an hour: every device goes silent.
    during = check_health(now + timedelta(hours=1))
    # It answers again, and still says the device is offline.
    Device.objects.update(last_seen_at=now + timedelta(hours=1, minutes=1))
    after = check_health(now + timedelta(hours=1, minutes=2))

    (silent,) = during
    assert Alert.objects.get(pk=silent).kind == "devices_silent"
    assert after == []
    assert Alert.objects.filter(kind="devices_offline").count() == 1
    assert Alert.objects.get(pk=offline).is_open
    assert not Alert.objects.get(pk=silent).is_open


def test_a_device_its_vendor_no_longer_lists_raises_no_alert(minute_intervals):
    long_ago = timezone.now() - timedelta(hours=1)
    DeviceFactory.create(last_seen_at=long_ago, unlisted_at=long_ago)
    DeviceFactory.create(last_seen_at=timezone.now(), reported_online=False, unlisted_at=long_ago)

    assert check_health() == []


@pytest.fixture
def hourly_webhooks(settings):
    settings.WEBHOOK_SILENT_AFTER_SECONDS = 3600
    settings.WEBHOOK_REPLAY_WINDOW_SECONDS = 300


def test_a_vendor_whose_webhooks_stop_raises_one_alert_resolved_when_they_return(
    hourly_webhooks,
):
    now = timezone.now()
    WebhookDelivery.objects.create(
        vendor="simulator", signature="a" * 64, received_at=now - timedelta(hours=2)
    )

    opened = check_health(now)
    again = check_health(now + timedelta(minutes=5))

    assert len(opened) == 1 and again == []
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.is_open) == ("webhooks_silent", "simulator", True)

    WebhookDelivery.objects.create(vendor="simulator", signature="b" * 64, received_at=now)
    check_health(now + timedelta(minutes=6))

    alert.refresh_from_db()
    assert not alert.is_open


def test_a_vendor_that_never_pushed_or_has_no_secret_raises_no_webhook_alert(
    hourly_webhooks, settings
):
    first_vendor = next(vendor for vendor in settings.VENDORS if vendor != "simulator")
    WebhookDelivery.objects.create(
        vendor=first_vendor, signature="a" * 64, received_at=timezone.now() - timedelta(days=1)
    )

    check_health()

    assert not Alert.objects.filter(kind=Alert.Kind.WEBHOOKS_SILENT).exists()


def test_deliveries_past_the_replay_window_are_forgotten_but_the_last_push(hourly_webhooks):
    now = timezone.now()
    for minutes, signature in [(30, "old"), (20, "last"), (5, "recent")]:
        WebhookDelivery.objects.create(
            vendor="simulator" if signature != "last" else "other",
            signature=signature,
            received_at=now - timedelta(minutes=minutes),
        )

    check_health(now)

    assert set(WebhookDelivery.objects.values_list("signature", flat=True)) == {"last", "recent"}
