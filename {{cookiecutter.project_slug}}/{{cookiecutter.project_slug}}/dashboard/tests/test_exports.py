import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from ...devices.tests.factories import DeviceFactory
from ...observations.tests.factories import AttributeFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 1)


@pytest.fixture
def plug(owner):
    """A device with a reading at the first and the last moment of DAY, in the project's time
    zone, and one on the day after."""
    device = DeviceFactory.create(name="Plug", owner=owner)
    zone = timezone.get_current_timezone()
    start = datetime.combine(DAY, datetime.min.time(), zone)
    for moment in (start, start + timedelta(days=1, microseconds=-1), start + timedelta(days=1)):
        AttributeFactory.create(device=device, valid_at=moment)
    return device


def test_the_device_page_offers_the_last_30_days(client, plug):
    page = client.get(f"/devices/{plug.pk}/").content.decode()

    today = timezone.localdate()
    assert f'action="/devices/{plug.pk}/export/"' in page
    assert f'name="since" value="{today - timedelta(days=30):%Y-%m-%d}"' in page
    assert f'name="until" value="{today:%Y-%m-%d}"' in page


def test_an_export_holds_the_days_chosen_both_included(client, plug):
    form = {"since": str(DAY), "until": str(DAY)}

    answer = client.post(f"/devices/{plug.pk}/export/", form, follow=True)

{%- if cookiecutter.scheduler == "celery-beat" %}
    # Tasks run in-process here: the export is written by the time its page shows.
    page = answer.content.decode()
    assert "succeeded" in page and "2 readings written" in page
    download = next(line for line in page.splitlines() if "Download the CSV" in line)
    url = download.split('href="')[1].split('"')[0]
    answer = client.get(url)
{%- endif %}
    rows = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert [row[1] for row in rows] == ["device", "Plug", "Plug"]


def test_a_bad_date_is_said_and_nothing_is_exported(client, plug):
    answer = client.post(
        f"/devices/{plug.pk}/export/", {"since": "2026-02-30", "until": str(DAY)}, follow=True
    )

    assert answer.redirect_chain == [(f"/devices/{plug.pk}/", 302)]
    assert "Not exported. since:" in answer.content.decode()


def test_another_persons_device_is_not_exported(client, owner):
    theirs = DeviceFactory.create()

    answer = client.post(f"/devices/{theirs.pk}/export/", {"since": str(DAY), "until": str(DAY)})

    assert answer.status_code == 404
