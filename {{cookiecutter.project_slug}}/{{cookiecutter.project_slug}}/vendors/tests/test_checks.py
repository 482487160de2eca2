"""Production refuses to start without a vendor's required settings, on a vendor of the
tests' own: the team's vendor declares what its client needs, which the team changes."""

import environ
import pytest

from config.vendor_settings import VendorSetting, vendor

from ..checks import required_vendor_settings

URL_VARIABLE = "EXAMPLE_API_URL"
TOKEN_VARIABLE = "EXAMPLE_API_TOKEN"


def example_vendor(**options: str) -> dict:
    """An HTTP vendor as settings.VENDORS declares one, with these options read."""
    declared = vendor(
        environ.Env(),
        "example_api.ExampleAPIClient",
        VendorSetting("base_url", URL_VARIABLE, required_in_production=True),
        VendorSetting("api_token", TOKEN_VARIABLE, required_in_production=True),
        VendorSetting("timeout", "EXAMPLE_API_TIMEOUT", default=10.0),
    )
    return declared | {"OPTIONS": declared["OPTIONS"] | options}


@pytest.fixture
def unconfigured_vendor(settings):
    """The vendor alone, as production would read it without its variables."""
    settings.VENDORS = {"example_api": example_vendor(base_url="", api_token="")}


def test_production_refuses_a_vendor_without_its_required_settings(settings, unconfigured_vendor):
    settings.PRODUCTION = True

    errors = required_vendor_settings(None)

    assert [error.msg for error in errors] == [
        f"Set the {URL_VARIABLE} environment variable: the example_api vendor's base_url, "
        "required in production.",
        f"Set the {TOKEN_VARIABLE} environment variable: the example_api vendor's api_token, "
        "required in production.",
    ]


def test_production_accepts_a_vendor_with_its_required_settings(settings):
    settings.PRODUCTION = True
    vendor = example_vendor(base_url="https://api.example.com/", api_token="t")
    settings.VENDORS = {"example_api": vendor}

    assert required_vendor_settings(None) == []


def test_elsewhere_a_vendor_may_lack_what_production_requires(settings, unconfigured_vendor):
    assert settings.PRODUCTION is False

    assert required_vendor_settings(None) == []
