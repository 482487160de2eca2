import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
{%- if cookiecutter.scheduler == "celery-beat" %}
from kombu.exceptions import OperationalError
{%- endif %}

from ...devices.tests.factories import DeviceFactory, UserFactory
{%- if cookiecutter.scheduler == "celery-beat" %}
from ...observations.models import Export
from ...observations.tasks import export_readings
{%- endif %}
from ...observations.tests.factories import AttributeFactory

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)


def asking(*devices, **fields) -> dict:
    return {
        "devices": [device.pk for device in devices],
        "since": SINCE.isoformat(),
        "until": UNTIL.isoformat(),
        **fields,
    }


def lines(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def plug(user):
    device = DeviceFactory.create(name="Plug", owner=user)
    for minutes in range(3):
        AttributeFactory.create(
            device=device, name="power", value=minutes, valid_at=SINCE + timedelta(minutes=minutes)
        )
    # Outside the range asked for.
    AttributeFactory.create(device=device, name="power", value=9, valid_at=UNTIL)
    return device


PLUG_LINES = [
    ["device_id", "device", "name", "value", "units", "valid_at"],
    *(
        ["{pk}", "Plug", "power", f"{minutes:.1f}", "°C", f"2026-03-01T00:0{minutes}:00+00:00"]
        for minutes in range(3)
    ),
]


def expected_lines(device) -> list[list[str]]:
    return [[cell.format(pk=device.pk) for cell in line] for line in PLUG_LINES]


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"devices": []}, "devices", "at least 1"),
        ({"devices": ["one"]}, "devices", "valid integer"),
        ({"devices": [2**63]}, "devices", "less than or equal to"),
        ({"since": "yesterday"}, "since", "wrong format"),
        ({"until": SINCE.isoformat()}, "until", "after since"),
        ({"until": (SINCE + timedelta(days=367)).isoformat()}, "until", "366 days"),
        ({"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}, None, None),
        ({"format": "xlsx"}, "format", "not a valid choice"),
        ({"names": "power"}, "names", "list"),
    ],
)
def test_a_bad_request_is_a_400_that_names_the_field(api, plug, fields, field, says):
    response = api.post("/api/exports/", asking(plug, **fields), format="json")

    if field is None:  # a range the database holds nothing in is not an error
        assert response.status_code in (200, 202)
        return
    assert response.status_code == 400
    assert says in str(response.json()[field])


def test_only_your_own_devices_are_exported(api, plug):
    someone_elses = DeviceFactory.create(owner=UserFactory.create())

    response = api.post("/api/exports/", asking(plug, someone_elses), format="json")

    assert response.status_code == 400
    assert response.json()["devices"] == [f"No device {someone_elses.pk} among yours."]


def test_too_many_devices_are_refused(api, user, settings):
    settings.EXPORT_MAX_DEVICES = 2
    devices = DeviceFactory.create_batch(3, owner=user)

    response = api.post("/api/exports/", asking(*devices), format="json")

    assert response.status_code == 400
    assert response.json()["devices"] == ["At most 2 devices in one export."]


def test_anonymous_requests_are_refused(plug):
    from rest_framework.test import APIClient

    assert APIClient().post("/api/exports/", asking(plug), format="json").status_code == 401
{%- if cookiecutter.scheduler == "celery-beat" %}


def test_an_export_is_asked_for_polled_and_downloaded(api, plug):
    # Tasks run in-process here: the export is written before the answer.
    asked = api.post("/api/exports/", asking(plug), format="json")

    assert asked.status_code == 202
    export = asked.json()
    assert asked["Location"] == export["url"]
    polled = api.get(export["url"]).json()
    assert (polled["state"], polled["rows"], polled["devices"]) == ("succeeded", 3, [plug.pk])
    download = api.get(polled["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert lines(download) == expected_lines(plug)


def test_the_same_request_answers_the_same_export(api, plug, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(export_readings, "delay", queued.append)

    first = api.post("/api/exports/", asking(plug), format="json").json()
    again = api.post("/api/exports/", asking(plug, names=[]), format="json").json()

    assert first["id"] == again["id"]
    assert queued == [first["id"]]


def test_an_export_not_written_yet_cannot_be_downloaded(api, plug, monkeypatch):
    monkeypatch.setattr(export_readings, "delay", lambda export_id: None)
    export = api.post("/api/exports/", asking(plug), format="json").json()

    download = api.get(f"/api/exports/{export['id']}/download/")

    assert (export["state"], export["download_url"]) == ("queued", None)
    assert download.status_code == 409
    assert "queued" in download.json()["detail"]


def test_an_export_not_queued_fails_and_says_when_to_ask_again(api, plug, monkeypatch):
    def queue_down(export_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379.")

    monkeypatch.setattr(export_readings, "delay", queue_down)

    response = api.post("/api/exports/", asking(plug), format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert Export.objects.get().state == "failed"


@pytest.mark.parametrize("path", ["/api/exports/{id}/", "/api/exports/{id}/download/"])
def test_another_persons_export_is_not_found(api, client_of, plug, path):
    export = api.post("/api/exports/", asking(plug), format="json").json()
    stranger = client_of(UserFactory.create())

    assert stranger.get(path.format(id=export["id"])).status_code == 404
    assert api.get(path.format(id=export["id"] + 1)).status_code == 404
    assert api.get(path.format(id="x")).status_code == 400
{%- else %}


def test_an_export_streams_the_readings_as_csv(api, plug):
    response = api.post("/api/exports/", asking(plug), format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert lines(response) == expected_lines(plug)
{%- endif %}
