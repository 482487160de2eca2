from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ...observations.models import Status
from ...vendors.models import SimulatedDevice
from ..models import Command, JobRun
from ..schedule import periodic_jobs

pytestmark = pytest.mark.django_db


def test_the_schedule_page_lists_every_periodic_job_with_its_last_run(admin_client):
    JobRun.objects.create(
        name="refresh_all", outcome="succeeded", finished_at=timezone.now(), detail="9 new rows"
    )

    response = admin_client.get(reverse("admin:interactions_schedule_changelist"))

    page = response.content.decode()
    assert response.status_code == 200
    for job in periodic_jobs():
        assert f"<strong>{job.name}</strong>" in page
    assert "succeeded" in page
    assert "never" in page  # prune_observations has not run
    assert "overdue-flag" not in page.replace(".overdue-flag", "")


def test_the_schedule_page_flags_an_overdue_job(admin_client, settings):
    settings.MONITOR_INTERVAL_SECONDS = 60
    JobRun.objects.create(
        name="refresh_all",
        started_at=timezone.now() - timedelta(hours=1),
        outcome="failed",
    )

    page = admin_client.get(reverse("admin:interactions_schedule_changelist")).content.decode()

    assert '<span class="overdue-flag">overdue</span>' in page


def test_the_schedule_page_says_how_many_devices_the_last_refresh_reached(admin_client):
    JobRun.objects.create(
        name="refresh_all", outcome="failed", devices_refreshed=7, devices_failed=3
    )

    page = admin_client.get(reverse("admin:interactions_schedule_changelist")).content.decode()

    assert "<td>7 refreshed, 3 failed</td>" in page
    assert page.count("<td>-</td>") >= 2  # the jobs that refresh no device


def test_the_admin_index_links_the_schedule(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert reverse("admin:interactions_schedule_changelist") in page


@pytest.mark.django_db(transaction=True)
def test_turn_off_from_the_device_list_sends_a_command_through_the_job_path(admin_client):
    SimulatedDevice.objects.create(vendor_device_id="sim-00001", name="Plug")
    device = DeviceFactory.create(vendor="simulator", vendor_device_id="sim-00001")

    response = admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "turn_off", "_selected_action": [device.pk]},
        follow=True,
    )

    command = Command.objects.get()
    assert (command.device, command.is_on, command.state) == (device, False, "confirmed")
    assert f"Turn off, 1 commands ({device}: " in response.content.decode()
    assert SimulatedDevice.objects.get().is_on is False


@pytest.mark.django_db(transaction=True)
def test_refresh_now_from_the_device_list_reads_the_selected_devices(admin_client):
    SimulatedDevice.objects.create(vendor_device_id="sim-00001", name="Plug")
    device = DeviceFactory.create(vendor="simulator", vendor_device_id="sim-00001")
    other = DeviceFactory.create()

    response = admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "refresh_now", "_selected_action": [device.pk]},
        follow=True,
    )

    assert Status.objects.filter(device=device).exists()
    assert not Status.objects.filter(device=other).exists()
    assert "1 devices" in response.content.decode()


def test_the_device_list_flags_a_silent_device(admin_client, settings):
    settings.MONITOR_INTERVAL_SECONDS = 60
    DeviceFactory.create(name="Quiet plug", last_seen_at=timezone.now() - timedelta(hours=1))

    page = admin_client.get(reverse("admin:devices_device_changelist")).content.decode()

    assert "Quiet plug" in page
    assert 'alt="False"' in page


def test_the_command_job_run_and_alert_lists_render(admin_client):
    for name in ("command", "jobrun", "alert"):
        response = admin_client.get(reverse(f"admin:interactions_{name}_changelist"))
        assert response.status_code == 200
