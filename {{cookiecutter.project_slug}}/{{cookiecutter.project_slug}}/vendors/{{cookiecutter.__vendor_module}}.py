"""{{ cookiecutter.vendor_name }}'s API client.

This is the file to change when you connect the project to your vendor. As generated, it speaks
the example REST API that the simulator serves at /vendor-simulator/v1/ (local and test
settings; see example_api.py), so the project works before you have credentials.

To point it at your vendor, set in the environment (.env locally):
    {{ cookiecutter.__vendor_module.upper() }}_API_URL       the base URL of the vendor's API
    {{ cookiecutter.__vendor_module.upper() }}_API_TOKEN     the token the vendor gave you
    {{ cookiecutter.__vendor_module.upper() }}_API_TIMEOUT   seconds per request (default 10)
then write list_devices, read_devices and set_status for the vendor's endpoints on top of
http.HTTPVendorClient (base.py has the recipe; example_api.py is a whole client).
"""

from __future__ import annotations

from .example_api import ExampleAPIClient


class {{ cookiecutter.__vendor_class }}(ExampleAPIClient):
    """The vendor's cloud through its REST API; registry.py keeps one per process."""

    vendor = "{{ cookiecutter.__vendor_module }}"
    url_setting = "{{ cookiecutter.__vendor_module.upper() }}_API_URL"
    token_setting = "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN"
