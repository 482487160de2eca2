"""{{ cookiecutter.vendor_name }}'s client, as settings.VENDORS builds it."""

import pytest

from .. import base
from ..registry import vendor_client

VENDOR = "{{ cookiecutter.__vendor_module }}"


@pytest.mark.parametrize(
    ("option", "variable"),
    [
        ("base_url", "{{ cookiecutter.__vendor_module.upper() }}_API_URL"),
        ("api_token", "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN"),
    ],
)
def test_a_missing_setting_fails_naming_the_variable_to_set(settings, option, variable):
    entry = settings.VENDORS[VENDOR]
    options = {**entry["OPTIONS"], "base_url": "https://vendor.example/", "api_token": "t"}
    settings.VENDORS = {**settings.VENDORS, VENDOR: {**entry, "OPTIONS": options | {option: ""}}}

    with pytest.raises(base.ConfigurationError, match=f"{variable} is not set"):
        vendor_client(VENDOR).list_devices()
