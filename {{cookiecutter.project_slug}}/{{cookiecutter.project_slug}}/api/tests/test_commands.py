import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from ...devices.tests.factories import DeviceFactory, UserFactory
from ...interactions import control
from ...interactions.models import Command
from ...interactions.tests.factories import CommandFactory
from ...vendors.base import UnknownDevice, VendorUnavailable

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(user, fake_vendor):
    return DeviceFactory.create(vendor="fake", vendor_device_id="plug-1", owner=user)


@pytest.fixture
def switch(api, device, django_capture_on_commit_callbacks):
    """POST a command for `device`, and run what the request left for after its commit."""

    def post(body, client=None, target=None, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or api).post(
                f"/api/devices/{(target or device).pk}/commands/",
                body,
                format="json",
                headers=headers,
            )

    return post


def sent(fake_vendor) -> list[tuple]:
    return [call for call in fake_vendor.calls if call[0] == "set_status"]

{%- if cookiecutter.scheduler == "celery-beat" %}


def test_a_command_is_accepted_with_where_to_poll_it(switch, device):
    response = switch({"is_on": False})

    body = response.json()
    command = Command.objects.get()
    assert response.status_code == 202
    assert (body["id"], body["state"], body["settled"]) == (command.pk, "queued", False)
    assert response["Location"] == body["url"]
    # WSGI servers refuse header values of a str subclass, such as DRF's Hyperlink.
    assert type(response["Location"]) is str
    assert body["url"].endswith(f"/api/commands/{command.pk}/")


# Outside a transaction, as a request is: the command is queued during the request.
@pytest.mark.django_db(transaction=True)
def test_a_command_the_queue_refuses_is_a_503_with_retry_after(api, device, queue_down):
    response = api.post(f"/api/devices/{device.pk}/commands/", {"is_on": False}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "detail": "The task queue cannot be reached, so nothing was sent: try again in 30 s."
    }
    command = Command.objects.get()
    assert (command.state, command.attempts) == ("failed", 0)


@pytest.mark.django_db(transaction=True)
def test_a_retry_with_the_same_key_after_a_503_queues_the_command(api, device, queue_down):
    def post():
        return api.post(
            f"/api/devices/{device.pk}/commands/",
            {"is_on": False},
            format="json",
            headers={"Idempotency-Key": "switch-1"},
        )

    refused = post()
    queue_down.is_up = True
    accepted = post()
    again = post()

    command = Command.objects.get()
    assert (refused.status_code, accepted.status_code, again.status_code) == (503, 202, 202)
    assert accepted.json()["id"] == command.pk and accepted.json()["state"] == "queued"
    assert queue_down.published == [("interactions.send_command", (command.pk,))]
{%- else %}


def test_a_command_is_sent_within_the_request_and_answered_settled(switch, device):
    response = switch({"is_on": False})

    body = response.json()
    command = Command.objects.get()
    assert response.status_code == 201
    assert (body["id"], body["state"], body["settled"]) == (command.pk, "confirmed", True)
    assert body["vendor_answer"]["is_on"] is False
    assert response["Location"] == body["url"]
    # WSGI servers refuse header values of a str subclass, such as DRF's Hyperlink.
    assert type(response["Location"]) is str
    assert body["url"].endswith(f"/api/commands/{command.pk}/")
{%- endif %}


def test_polling_a_command_shows_the_vendors_answer(api, switch, device, fake_vendor):
    url = switch({"is_on": False}).json()["url"]

    command = api.get(url).json()

    assert (command["state"], command["settled"], command["error"]) == ("confirmed", True, "")
    assert command["vendor_answer"]["state"] == "off"
    assert command["device"] == device.pk
    assert command["finished_at"] is not None
    assert sent(fake_vendor) == [("set_status", ("plug-1", False))]


def test_a_command_the_vendor_refuses_ends_failed_with_its_reason(api, switch, fake_vendor):
    fake_vendor.fail("set_status", UnknownDevice("no device plug-1"))

    url = switch({"is_on": True}).json()["url"]

    command = api.get(url).json()
    assert (command["state"], command["error"]) == ("failed", "no device plug-1")


def test_a_vendor_that_cannot_be_reached_fails_the_command_not_the_request(
    api, switch, fake_vendor
):
    fake_vendor.fail("set_status", VendorUnavailable("503 Service Unavailable"))

    response = switch({"is_on": True})

    assert response.status_code in (201, 202)
    command = api.get(response.json()["url"]).json()
    assert (command["state"], command["error"]) == ("failed", "503 Service Unavailable")


def test_a_retry_with_the_same_idempotency_key_sends_the_command_once(switch, fake_vendor):
    first = switch({"is_on": True}, **{"Idempotency-Key": "switch-42"})
    retry = switch({"is_on": True}, **{"Idempotency-Key": "switch-42"})

    assert retry.status_code == first.status_code
    assert retry.json()["id"] == first.json()["id"]
    assert Command.objects.count() == 1
    assert len(sent(fake_vendor)) == 1


def test_the_same_key_from_another_person_is_another_command(
    switch, client_of, device, fake_vendor
):
    other_person = UserFactory.create(is_staff=True)

    switch({"is_on": True}, **{"Idempotency-Key": "k"})
    switch({"is_on": True}, client=client_of(other_person), **{"Idempotency-Key": "k"})

    assert Command.objects.count() == 2
    assert len(sent(fake_vendor)) == 2


def test_a_key_reused_for_another_command_is_refused(switch, fake_vendor):
    switch({"is_on": True}, **{"Idempotency-Key": "k"})

    response = switch({"is_on": False}, **{"Idempotency-Key": "k"})

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()
    assert Command.objects.count() == 1


def test_two_requests_racing_with_one_key_make_one_command(switch, device, monkeypatch):
    winner = CommandFactory.create(
        device=device, is_on=True, requested_by=device.owner, idempotency_key="race"
    )
    real_lookup = control._earlier_command
    lookups = []

    def lookup(*arguments):
        lookups.append(arguments)
        # The loser looked before the winner's insert, and found nothing.
        return None if len(lookups) == 1 else real_lookup(*arguments)

    monkeypatch.setattr(control, "_earlier_command", lookup)

    response = switch({"is_on": True}, **{"Idempotency-Key": "race"})

    assert response.json()["id"] == winner.pk
    assert Command.objects.count() == 1
    assert len(lookups) == 2


@pytest.mark.parametrize(
    ("key", "why"),
    [("k" * 201, "too long"), ("tab\there", "not printable")],
)
def test_a_bad_idempotency_key_is_a_400(switch, key, why):
    response = switch({"is_on": True}, **{"Idempotency-Key": key})

    assert response.status_code == 400, why
    assert "Idempotency-Key" in response.json()
    assert not Command.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "is_on"),
        ({"is_on": "maybe"}, "is_on"),
        ({"is_on": None}, "is_on"),
        ([True], "non_field_errors"),
    ],
)
def test_a_bad_command_body_is_a_400_naming_the_field(switch, body, field):
    response = switch(body)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Command.objects.exists()


def test_a_body_that_is_not_json_is_a_400(api, device):
    response = api.post(
        f"/api/devices/{device.pk}/commands/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert not Command.objects.exists()


def test_commanding_another_persons_device_is_not_found(switch, fake_vendor):
    others = DeviceFactory.create(vendor="fake", owner=UserFactory.create())

    response = switch({"is_on": True}, target=others)

    assert response.status_code == 404
    assert not Command.objects.exists()
    assert sent(fake_vendor) == []


def test_staff_command_any_device(switch, client_of, staff, fake_vendor):
    others = DeviceFactory.create(
        vendor="fake", vendor_device_id="plug-9", owner=UserFactory.create()
    )

    response = switch({"is_on": True}, client=client_of(staff), target=others)

    assert response.status_code in (201, 202)
    assert Command.objects.get().requested_by == staff


def test_an_unknown_command_is_not_found(api):
    assert api.get("/api/commands/424242/").status_code == 404


def test_another_persons_command_is_not_found(api):
    command = CommandFactory.create(device=DeviceFactory.create(owner=UserFactory.create()))

    assert api.get(f"/api/commands/{command.pk}/").status_code == 404


def test_a_command_on_your_device_is_yours_whoever_asked(api, device):
    command = CommandFactory.create(device=device, requested_by=UserFactory.create(is_staff=True))

    assert api.get(f"/api/commands/{command.pk}/").json()["id"] == command.pk


def test_an_anonymous_user_never_makes_a_command(device, fake_vendor):
    with pytest.raises(PermissionDenied):
        control.request_status(device, True, requested_by=AnonymousUser())

    assert not Command.objects.exists()
    assert sent(fake_vendor) == []


def test_a_command_to_a_device_that_cannot_be_switched_is_a_409_and_creates_nothing(
    switch, device, fake_vendor
):
    device.can_switch = False
    device.save()

    response = switch({"is_on": True}, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{device.name} cannot be switched on or off: its vendor lists it as a sensor."
    }
    assert not Command.objects.exists()
    assert sent(fake_vendor) == []
