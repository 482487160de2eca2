from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ...devices.models import Device
from ...devices.tests.factories import DeviceFactory, UserFactory
from ...observations.tests.factories import AttributeFactory, StatusFactory

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [device["name"] for device in response.json()["results"]]


@pytest.mark.parametrize(
    "url", ["/api/devices/", "/api/devices/1/", "/api/latest/", "/api/commands/1/"]
)
def test_anonymous_requests_are_refused_with_401(url):
    DeviceFactory.create(pk=1)

    response = APIClient().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_signs_a_person_in(user):
    DeviceFactory.create(name="Mine", owner=user)
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert names(client.get("/api/devices/")) == ["Mine"]


def test_a_wrong_token_is_refused(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert client.get("/api/devices/").status_code == 401


def test_a_password_gets_a_token(user):
    response = APIClient().post(
        "/api/auth/token/",
        {"username": user.username, "password": "a-long-test-password"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=user).key


def test_a_session_signs_a_person_in(user):
    DeviceFactory.create(name="Mine", owner=user)
    client = APIClient()
    client.force_login(user)

    assert names(client.get("/api/devices/")) == ["Mine"]


def test_a_person_sees_only_their_own_devices(api, user):
    DeviceFactory.create(name="Heater", owner=user)
    DeviceFactory.create(name="Pump", owner=user)
    DeviceFactory.create(name="Neighbour's", owner=UserFactory.create())
    DeviceFactory.create(name="Nobody's", owner=None)

    assert names(api.get("/api/devices/")) == ["Heater", "Pump"]


def test_staff_see_every_device(client_of, staff):
    DeviceFactory.create(name="Heater", owner=UserFactory.create())
    DeviceFactory.create(name="Nobody's", owner=None)

    assert names(client_of(staff).get("/api/devices/")) == ["Heater", "Nobody's"]


def test_another_persons_device_is_not_found(api):
    device = DeviceFactory.create(owner=UserFactory.create())

    assert api.get(f"/api/devices/{device.pk}/").status_code == 404


@pytest.mark.parametrize("device_id", ["abc", "-1", "٣"])
def test_a_device_id_that_is_not_a_number_is_a_400(api, user, device_id):
    DeviceFactory.create(pk=3, owner=user)

    response = api.get(f"/api/devices/{device_id}/")

    assert response.status_code == 400
    assert "id" in response.json()


def test_a_device_id_beyond_any_database_integer_is_not_found(api):
    assert api.get(f"/api/devices/{10**30}/").status_code == 404


def test_devices_filter_by_vendor_and_location(api, user, fake_vendor):
    DeviceFactory.create(name="Kitchen plug", location="Kitchen", vendor="simulator", owner=user)
    DeviceFactory.create(name="Kitchen fake", location="Kitchen", vendor="fake", owner=user)
    DeviceFactory.create(name="Garage plug", location="Garage", vendor="simulator", owner=user)

    assert names(api.get("/api/devices/", {"vendor": "simulator"})) == [
        "Garage plug",
        "Kitchen plug",
    ]
    assert names(api.get("/api/devices/", {"vendor": "simulator", "location": "Kitchen"})) == [
        "Kitchen plug"
    ]
    assert len(names(api.get("/api/devices/", {"vendor": ""}))) == 3


def test_online_means_heard_from_within_three_monitoring_intervals(api, user, settings):
    settings.MONITOR_INTERVAL_SECONDS = 60
    now = timezone.now()
    DeviceFactory.create(name="Fresh", last_seen_at=now - timedelta(minutes=2), owner=user)
    DeviceFactory.create(name="Stale", last_seen_at=now - timedelta(minutes=4), owner=user)
    DeviceFactory.create(name="Never seen", last_seen_at=None, owner=user)

    online = api.get("/api/devices/", {"online": "true"})
    offline = api.get("/api/devices/", {"online": "false"})

    assert names(online) == ["Fresh"]
    assert online.json()["results"][0]["online"] is True
    assert names(offline) == ["Never seen", "Stale"]
    assert [d["online"] for d in offline.json()["results"]] == [False, False]


def test_a_bad_filter_is_a_400_naming_it(api):
    response = api.get("/api/devices/", {"online": "maybe"})

    assert response.status_code == 400
    assert list(response.json()) == ["online"]


def test_devices_come_in_pages_of_50(api, user):
    DeviceFactory.create_batch(51, owner=user)

    first = api.get("/api/devices/").json()
    second = api.get(first["next"]).json()

    assert (first["count"], len(first["results"]), len(second["results"])) == (51, 50, 1)


def test_a_device_shows_its_latest_readings(api, user):
    device = DeviceFactory.create(owner=user)
    now = timezone.now()
    AttributeFactory.create(
        device=device, name="temperature", value=20, valid_at=now - timedelta(hours=1)
    )
    AttributeFactory.create(device=device, name="temperature", value=21, valid_at=now)
    AttributeFactory.create(device=device, name="power", value=60, units="W", valid_at=now)
    StatusFactory.create(device=device, is_on=False, state="standby", valid_at=now)

    latest = api.get(f"/api/devices/{device.pk}/").json()["latest"]

    assert [(a["name"], a["value"]) for a in latest["attributes"]] == [
        ("power", 60),
        ("temperature", 21),
    ]
    assert (latest["status"]["is_on"], latest["status"]["state"]) == (False, "standby")


def test_a_person_may_not_create_change_or_delete_devices(api, user):
    device = DeviceFactory.create(name="Heater", owner=user)
    new = {"name": "New", "vendor": "simulator", "vendor_device_id": "sim-new"}

    assert api.post("/api/devices/", new, format="json").status_code == 403
    assert api.patch(f"/api/devices/{device.pk}/", {"name": "X"}, format="json").status_code == 403
    assert api.delete(f"/api/devices/{device.pk}/").status_code == 403
    assert list(Device.objects.values_list("name", flat=True)) == ["Heater"]


def test_staff_create_change_and_delete_devices(client_of, staff, user):
    client = client_of(staff)

    created = client.post(
        "/api/devices/",
        {"name": "Pump", "vendor": "simulator", "vendor_device_id": "sim-pump", "owner": user.pk},
        format="json",
    )
    url = created.json()["url"]
    changed = client.patch(url, {"location": "Cellar"}, format="json")
    deleted = client.delete(url)

    assert (created.status_code, changed.status_code, deleted.status_code) == (201, 200, 204)
    assert created.json()["owner"] == user.pk
    assert changed.json()["location"] == "Cellar"
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "vendor": "nobody", "vendor_device_id": "x"}, "vendor"),
        ({"name": "X", "vendor": "simulator"}, "vendor_device_id"),
        ({"name": "", "vendor": "simulator", "vendor_device_id": "x"}, "name"),
        ({"name": "X", "vendor_device_id": "x", "metadata": [1]}, "metadata"),
        ({"name": "X", "vendor_device_id": "x", "owner": 10**30}, "owner"),
        ({"name": "X\x00", "vendor_device_id": "x"}, "name"),
    ],
)
def test_a_bad_device_is_a_400_naming_the_field(client_of, staff, body, field):
    response = client_of(staff).post("/api/devices/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "metadata",
    ['{"note": "a\\u0000b"}', '{"note": "\\ud800"}', '{"size": 1e400}', '{"list": [[1e999]]}'],
)
def test_metadata_the_database_cannot_store_is_a_400(client_of, staff, metadata):
    body = '{"name": "X", "vendor_device_id": "x", "metadata": ' + metadata + "}"

    response = client_of(staff).post("/api/devices/", body, content_type="application/json")

    assert response.status_code == 400
    assert "metadata" in response.json()


def test_a_vendor_device_id_already_taken_is_a_400(client_of, staff):
    DeviceFactory.create(vendor="simulator", vendor_device_id="sim-1")

    response = client_of(staff).post(
        "/api/devices/",
        {"name": "Copy", "vendor": "simulator", "vendor_device_id": "sim-1"},
        format="json",
    )

    assert response.status_code == 400
    assert Device.objects.count() == 1


def test_a_device_its_vendor_reports_offline_is_offline_though_heard_from_lately(api, user):
    down = DeviceFactory.create(
        name="Down", last_seen_at=timezone.now(), reported_online=False, owner=user
    )
    DeviceFactory.create(name="Up", last_seen_at=timezone.now(), reported_online=True, owner=user)
    DeviceFactory.create(name="Unsaid", last_seen_at=timezone.now(), owner=user)

    listed = {d["name"]: d for d in api.get("/api/devices/").json()["results"]}
    latest = {d["name"]: d for d in api.get("/api/latest/").json()}
    detail = api.get(f"/api/devices/{down.pk}/").json()

    for described in (listed, latest):
        assert {name: d["online"] for name, d in described.items()} == {
            "Down": False,
            "Up": True,
            "Unsaid": True,
        }
        assert {name: d["reported_online"] for name, d in described.items()} == {
            "Down": False,
            "Up": True,
            "Unsaid": None,
        }
    assert (detail["online"], detail["reported_online"]) == (False, False)
    assert names(api.get("/api/devices/", {"online": "false"})) == ["Down"]
    assert [d["name"] for d in api.get("/api/latest/", {"online": "true"}).json()] == [
        "Unsaid",
        "Up",
    ]


def test_a_device_is_described_with_its_capabilities_and_whether_it_is_listed(api, user):
    gone = timezone.now() - timedelta(days=1)
    sensor = DeviceFactory.create(
        owner=user, can_switch=False, reading_names=["humidity"], unlisted_at=gone
    )
    plug = DeviceFactory.create(owner=user)

    described = api.get(f"/api/devices/{sensor.pk}/").json()
    latest = {d["id"]: d for d in api.get("/api/latest/").json()}

    assert (
        described["can_switch"],
        described["reading_names"],
        described["unlisted"],
        datetime.fromisoformat(described["unlisted_at"]),
    ) == (False, ["humidity"], True, gone)
    assert [latest[sensor.pk][key] for key in ("can_switch", "reading_names", "unlisted")] == [
        False,
        ["humidity"],
        True,
    ]
    assert [latest[plug.pk][key] for key in ("can_switch", "reading_names", "unlisted")] == [
        True,
        [],
        False,
    ]


def test_staff_mark_a_device_as_a_sensor_but_not_what_the_vendor_says(client_of, staff):
    device = DeviceFactory.create()

    response = client_of(staff).patch(
        f"/api/devices/{device.pk}/",
        {"can_switch": False, "reported_online": True, "reading_names": ["x"], "unlisted_at": None},
        format="json",
    )

    assert response.status_code == 200
    device.refresh_from_db()
    assert (device.can_switch, device.reported_online, device.reading_names) == (False, None, [])
