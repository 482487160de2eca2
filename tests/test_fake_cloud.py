"""The fake vendor the connection test talks to: its API, its rate limit and its counters."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from .fake_cloud import FakeCloud, serving


@pytest.fixture
def cloud():
    return FakeCloud(key="right", max_requests_per_second=100, switch_delay=0.2)


@pytest.fixture
def post(cloud):
    with serving(cloud) as url:

        def post(path: str, **form: str) -> dict:
            request = urllib.request.Request(
                url + path, data=urllib.parse.urlencode({"key": "right", **form}).encode()
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
                return json.load(response)

        yield post


def test_the_list_is_keyed_by_id_and_says_which_devices_have_a_relay(post):
    devices = post("/devices/list")["data"]["devices"]

    assert devices["plug-a1"]["relays"] == 1
    assert devices["ht-c3"] == {
        "name": "Cellar sensor",
        "model": "ht",
        "relays": 0,
        "sensors": ["humidity", "temperature"],
    }


def test_a_status_is_one_device_in_tenths_of_a_degree_with_the_clouds_word_on_its_connection(
    post,
):
    data = post("/device/status", id="plug-a1")["data"]

    assert data["online"] is True
    assert data["device_status"]["relays"] == [{"ison": True}]
    assert data["device_status"]["sensors"] == {"temperature": 215}
    assert abs(data["device_status"]["updated"] - time.time()) < 60
    assert post("/device/status", id="plug-d4")["data"]["online"] is False


@pytest.mark.parametrize(
    ("path", "form", "code"),
    [
        ("/devices/list", {"key": "wrong"}, "key"),
        ("/device/status", {"id": "nope"}, "device_not_found"),
        ("/device/relay/control", {"id": "ht-c3", "turn": "on"}, "no_relay"),
        ("/device/relay/control", {"id": "plug-a1", "turn": "up"}, "bad_request"),
        ("/device/unknown", {}, "bad_request"),
    ],
)
def test_errors_come_inside_a_200(post, path, form, code):
    answer = post(path, **form)

    assert answer["isok"] is False
    assert list(answer["errors"]) == [code]


def test_a_switch_is_accepted_without_state_and_happens_later(post):
    assert post("/device/relay/control", id="plug-b2", turn="on") == {"isok": True}
    assert post("/device/status", id="plug-b2")["data"]["device_status"]["relays"] == [
        {"ison": False}
    ]

    time.sleep(0.4)

    assert post("/device/status", id="plug-b2")["data"]["device_status"]["relays"] == [
        {"ison": True}
    ]


def test_requests_over_the_limit_are_refused_and_counted(cloud, post):
    cloud.max_requests_per_second = 2

    answers = [post("/device/status", id="plug-a1") for _ in range(3)]

    assert [answer["isok"] for answer in answers] == [True, True, False]
    assert answers[2]["errors"] == {"max_req": "Request limit reached!"}
    assert (cloud.refused, cloud.max_in_one_second) == (1, 3)
    assert cloud.requests == {"/device/status": 3}


def test_the_limit_holds_over_a_sliding_second(cloud, post):
    cloud.max_requests_per_second = 1

    first = post("/devices/list")
    time.sleep(0.5)
    too_soon = post("/devices/list")
    time.sleep(0.6)
    a_second_later = post("/devices/list")

    assert [first["isok"], too_soon["isok"], a_second_later["isok"]] == [True, False, True]
    assert (cloud.refused, cloud.max_in_one_second) == (1, 2)
