import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory, UserFactory
from ...observations.queries import BUCKETS, history, latest_readings
from ...observations.tests.factories import AttributeFactory, StatusFactory
from ..serializers import DeviceReadingsSerializer, HistorySerializer

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


def as_json(data) -> object:
    """Serializer output as a client reads it, through DRF's own renderer."""
    return json.loads(JSONRenderer().render(data))


def moment(text: str) -> datetime:
    """A time the API wrote, in whichever zone the project shows times."""
    return datetime.fromisoformat(text)


@pytest.fixture
def device(user):
    return DeviceFactory.create(owner=user)


def test_attributes_are_newest_first_and_filtered_by_name_and_time(api, device):
    for minutes in (0, 10, 20, 30):
        AttributeFactory.create(
            device=device, name="temperature", value=minutes, valid_at=at(minutes)
        )
    AttributeFactory.create(device=device, name="power", value=99, valid_at=at(15))
    url = f"/api/devices/{device.pk}/attributes/"

    everything = api.get(url).json()
    filtered = api.get(
        url, {"name": "temperature", "since": "2026-01-15T12:10:00Z", "until": "2026-01-15T12:30Z"}
    ).json()

    assert [r["value"] for r in everything["results"]] == [30, 20, 99, 10, 0]
    assert [r["value"] for r in filtered["results"]] == [20, 10]
    assert filtered["count"] == 2


def test_attributes_of_another_persons_device_are_not_found(api):
    other = DeviceFactory.create(owner=UserFactory.create())
    AttributeFactory.create(device=other)

    assert api.get(f"/api/devices/{other.pk}/attributes/").status_code == 404


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-15T13:00Z", "until": "2026-01-15T12:00Z"}, "until"),
        ({"until": "0001-01-01T00:00:00+01:00"}, "until"),
        ({"name": "a\x00b"}, "name"),
    ],
)
def test_a_bad_attribute_filter_is_a_400_naming_it(api, device, parameters, field):
    response = api.get(f"/api/devices/{device.pk}/attributes/", parameters)

    assert response.status_code == 400
    assert field in response.json()


def test_history_aggregates_each_bucket(api, device):
    for minutes, value in [(0, 1), (20, 2), (40, 6), (70, 10), (24 * 60, 50)]:
        AttributeFactory.create(
            device=device, name="temperature", value=value, valid_at=at(minutes)
        )
    AttributeFactory.create(device=device, name="power", value=1000, valid_at=at(5))
    url = f"/api/devices/{device.pk}/history/"
    day = {"name": "temperature", "since": "2026-01-15T00:00Z", "until": "2026-01-17T00:00Z"}

    hourly = api.get(url, {**day, "bucket": "1h"}).json()
    daily = api.get(url, {**day, "bucket": "1d"}).json()
    five_minutes = api.get(url, {**day, "bucket": "5m", "since": "2026-01-15T12:00Z"}).json()

    assert [{**b, "start": moment(b["start"])} for b in hourly["buckets"]] == [
        {"start": at(0), "avg": 3.0, "min": 1.0, "max": 6.0, "count": 3},
        {"start": at(60), "avg": 10.0, "min": 10.0, "max": 10.0, "count": 1},
        {"start": at(24 * 60), "avg": 50.0, "min": 50.0, "max": 50.0, "count": 1},
    ]
    # Day buckets start at midnight UTC.
    assert [(moment(b["start"]), b["count"]) for b in daily["buckets"]] == [
        (at(-12 * 60), 4),
        (at(12 * 60), 1),
    ]
    assert [moment(b["start"]) for b in five_minutes["buckets"]] == [
        at(0),
        at(20),
        at(40),
        at(70),
        at(24 * 60),
    ]
    assert (hourly["name"], hourly["bucket"], hourly["device"]) == ("temperature", "1h", device.pk)


def test_history_covers_the_last_24_hours_by_default(api, device):
    now = timezone.now()
    AttributeFactory.create(device=device, value=1, valid_at=now - timedelta(hours=25))
    AttributeFactory.create(device=device, value=2, valid_at=now - timedelta(hours=1))

    history = api.get(f"/api/devices/{device.pk}/history/", {"name": "temperature"}).json()

    assert [b["avg"] for b in history["buckets"]] == [2.0]
    assert history["bucket"] == "1h"


def test_history_refuses_more_than_1000_buckets(api, device):
    response = api.get(
        f"/api/devices/{device.pk}/history/",
        {
            "name": "temperature",
            "bucket": "5m",
            "since": "2026-01-01T00:00Z",
            "until": "2026-01-05",
        },
    )

    assert response.status_code == 400
    assert "narrow the range" in response.json()["bucket"][0]


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({}, "name"),
        ({"name": "temperature", "bucket": "2m"}, "bucket"),
        ({"name": "temperature", "since": "2026-13-01T00:00Z"}, "since"),
        ({"name": "temperature", "until": "0001-01-01T00:00Z"}, "until"),
        ({"name": "temperature", "since": "9999-12-31T23:00Z"}, "since"),
    ],
)
def test_a_bad_history_request_is_a_400_naming_the_parameter(api, device, parameters, field):
    response = api.get(f"/api/devices/{device.pk}/history/", parameters)

    assert response.status_code == 400
    assert field in response.json()


def test_history_in_the_first_hour_of_year_one_is_no_error_when_since_is_given(api, device):
    # No default since is computed then: the day before would be out of range.
    hour = {"since": "0001-01-01T00:00:00Z", "until": "0001-01-01T01:00:00Z", "bucket": "5m"}

    response = api.get(f"/api/devices/{device.pk}/history/", {"name": "temperature", **hour})

    assert response.status_code == 200
    assert response.json()["buckets"] == []


def test_latest_has_each_visible_device_with_its_newest_readings(api, user):
    heater = DeviceFactory.create(name="Heater", owner=user)
    DeviceFactory.create(name="Silent", owner=user)
    DeviceFactory.create(name="Neighbour's", owner=UserFactory.create())
    AttributeFactory.create(device=heater, name="temperature", value=20, valid_at=at(0))
    AttributeFactory.create(device=heater, name="temperature", value=22, valid_at=at(10))
    StatusFactory.create(device=heater, is_on=True, valid_at=at(10))

    latest = api.get("/api/latest/").json()

    assert [d["name"] for d in latest] == ["Heater", "Silent"]
    (temperature,) = latest[0]["latest"]["attributes"]
    assert (temperature["name"], temperature["value"], temperature["units"]) == (
        "temperature",
        22.0,
        "°C",
    )
    assert moment(temperature["valid_at"]) == at(10)
    assert latest[0]["latest"]["status"]["is_on"] is True
    assert latest[1]["latest"] == {"status": None, "attributes": []}


@pytest.mark.parametrize("devices", [3, 30])
def test_latest_costs_the_same_queries_for_any_number_of_devices(
    api, user, devices, django_assert_max_num_queries
):
    for device in DeviceFactory.create_batch(devices, owner=user):
        for name in ("temperature", "power"):
            AttributeFactory.create_batch(3, device=device, name=name)
        StatusFactory.create(device=device)

    with django_assert_max_num_queries(3):
        response = api.get("/api/latest/")

    assert len(response.json()) == devices
    assert all(len(d["latest"]["attributes"]) == 2 for d in response.json())


# /api/latest/ and history answer from plain values; their serializers document them.


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns"])
def test_latest_answers_what_its_serializer_documents(api, user, zone):
    heater = DeviceFactory.create(name="Heater", owner=user, last_seen_at=timezone.now())
    DeviceFactory.create(name="Silent", owner=user)
    AttributeFactory.create(device=heater, name="power", value=60.5, units="W", valid_at=at(0.25))
    AttributeFactory.create(device=heater, name="temperature", value=21, valid_at=at(1))
    StatusFactory.create(device=heater, is_on=False, state="standby", valid_at=at(2))
    devices = list(Device.objects.filter(owner=user))
    for device in devices:
        device.latest = latest_readings(device)

    with timezone.override(zone):
        answered = api.get("/api/latest/").json()
        request = Request(APIRequestFactory().get("/api/latest/"))
        serializer = DeviceReadingsSerializer(devices, many=True, context={"request": request})
        documented = as_json(serializer.data)

    assert answered == documented
    assert answered[0]["latest"]["status"]["valid_at"].endswith("Z" if zone == "UTC" else "-03:30")


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns"])
def test_history_answers_what_its_serializer_documents(api, device, zone):
    for minutes, value in [(0, 1.5), (20, 2), (90.5, 6)]:
        AttributeFactory.create(
            device=device, name="temperature", value=value, valid_at=at(minutes)
        )
    parameters = {"name": "temperature", "bucket": "1h", "since": at(-60), "until": at(180)}

    with timezone.override(zone):
        answered = api.get(
            f"/api/devices/{device.pk}/history/",
            {**parameters, "since": at(-60).isoformat(), "until": at(180).isoformat()},
        ).json()
        buckets = history(device.pk, "temperature", BUCKETS["1h"], at(-60), at(180))
        serializer = HistorySerializer({"device": device.pk, **parameters, "buckets": buckets})
        documented = as_json(serializer.data)

    assert answered == documented
    assert [bucket["count"] for bucket in answered["buckets"]] == [2, 1]
