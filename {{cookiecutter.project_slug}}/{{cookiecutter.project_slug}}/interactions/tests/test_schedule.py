"""A periodic job is one entry in schedule.py: all the rest follows from it.

`firmware_job` adds an entry, as a team would; nothing else is edited.
{%- if cookiecutter.scheduler == "celery-beat" %} Its Celery task and
beat entry are tested in test_tasks.py.
{%- endif %}
"""

import pytest
from django.urls import reverse
from django.utils import timezone

from ..health import check_health
from ..models import Alert, JobRun
from .test_commands import line_of, run

pytestmark = pytest.mark.django_db


def test_run_job_runs_a_job_added_to_the_schedule_and_records_it(firmware_job):
    output = run("run_job", firmware_job.name)

    assert output.startswith("pull_firmware: 3 devices run the latest firmware in ")
    record = JobRun.objects.get(name="pull_firmware")
    assert (record.outcome, record.detail) == ("succeeded", "3 devices run the latest firmware")


def test_the_schedule_page_has_a_row_for_a_job_added_to_the_schedule(admin_client, firmware_job):
    page = admin_client.get(reverse("admin:interactions_schedule_changelist")).content.decode()

    assert "<strong>pull_firmware</strong>" in page
    assert f'<div class="help">{firmware_job.description}</div>' in page


def test_show_schedule_lists_a_job_added_to_the_schedule(firmware_job):
    lines = run("show_schedule").splitlines()

    line = line_of(lines, "pull_firmware")
{%- if cookiecutter.scheduler == "celery-beat" %}
    assert line.split() == ["pull_firmware", "6", "h", "never", "due", "now"]
{%- else %}
    assert line.startswith("  Every hour        python manage.py run_job pull_firmware ")
    assert line.endswith(f"# {firmware_job.description}")
{%- endif %}


def test_the_health_check_alerts_when_a_job_added_to_the_schedule_stops_succeeding(
    firmware_job,
):
    now = timezone.now()
    JobRun.objects.create(
        name="pull_firmware", started_at=now - 3 * firmware_job.every, outcome="succeeded"
    )

    check_health(now)

    assert Alert.objects.filter(kind="job_overdue", subject="pull_firmware").exists()
