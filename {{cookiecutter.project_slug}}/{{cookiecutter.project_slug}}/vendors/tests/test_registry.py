import pytest

from ..base import ConfigurationError
from ..registry import UnknownVendor, vendor_client
from ..simulator import SimulatorClient


def test_a_vendor_has_one_client_per_process():
    first = vendor_client("simulator")

    assert isinstance(first, SimulatorClient)
    assert vendor_client("simulator") is first


def test_an_unknown_vendor_is_a_permanent_error_naming_the_known_ones():
    with pytest.raises(UnknownVendor, match=r"no client for vendor .nowhere.*simulator"):
        vendor_client("nowhere")


def test_changing_the_vendors_setting_builds_new_clients(settings):
    before = vendor_client("simulator")

    settings.VENDORS = {
        **settings.VENDORS,
        "simulator": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": {"batch_size": 7}},
    }

    after = vendor_client("simulator")
    assert after is not before
    assert after.batch_size == 7


def test_an_option_the_client_does_not_take_fails_its_setup_in_one_line(settings):
    options = {"base_url": "https://api.example.com/", "api_token": "t", "client_id": "c"}
    settings.VENDORS = {"oauth": {"CLIENT": "example_api.ExampleAPIClient", "OPTIONS": options}}

    with pytest.raises(ConfigurationError, match=r"^oauth: ExampleAPIClient cannot take .*id'"):
        vendor_client("oauth")
