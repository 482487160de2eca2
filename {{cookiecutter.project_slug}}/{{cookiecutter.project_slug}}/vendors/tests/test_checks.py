import pytest

from ..checks import required_vendor_settings

VENDOR = "{{ cookiecutter.__vendor_module }}"
URL_VARIABLE = "{{ cookiecutter.__vendor_module.upper() }}_API_URL"
TOKEN_VARIABLE = "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN"


@pytest.fixture
def unconfigured_vendor(settings):
    """The HTTP vendor alone (startvendor may have added others), as production would read it
    without its variables."""
    config = settings.VENDORS[VENDOR]
    options = {**config["OPTIONS"], "base_url": "", "api_token": ""}
    settings.VENDORS = {VENDOR: {**config, "OPTIONS": options}}


def test_production_refuses_a_vendor_without_its_required_settings(settings, unconfigured_vendor):
    settings.PRODUCTION = True

    errors = required_vendor_settings(None)

    assert [error.msg for error in errors] == [
        f"Set the {URL_VARIABLE} environment variable: the {VENDOR} vendor's base_url, "
        "required in production.",
        f"Set the {TOKEN_VARIABLE} environment variable: the {VENDOR} vendor's api_token, "
        "required in production.",
    ]


def test_production_accepts_a_vendor_with_its_required_settings(settings):
    settings.PRODUCTION = True
    config = settings.VENDORS[VENDOR]
    options = {**config["OPTIONS"], "base_url": "https://api.example.com/", "api_token": "t"}
    settings.VENDORS = {VENDOR: {**config, "OPTIONS": options}}

    assert required_vendor_settings(None) == []


def test_elsewhere_a_vendor_may_lack_what_production_requires(settings, unconfigured_vendor):
    assert settings.PRODUCTION is False

    assert required_vendor_settings(None) == []
