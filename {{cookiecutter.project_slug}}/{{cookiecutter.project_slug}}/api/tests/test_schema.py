import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/devices/": {"get", "post"},
    "/api/devices/{id}/": {"get", "put", "patch", "delete"},
    "/api/devices/{id}/attributes/": {"get"},
    "/api/devices/{id}/history/": {"get"},
    "/api/devices/{id}/commands/": {"post"},
    "/api/commands/{id}/": {"get"},
    "/api/latest/": {"get"},
    "/api/auth/token/": {"post"},
    "/api/exports/": {"post"},
{%- if cookiecutter.scheduler == "celery-beat" %}
    "/api/exports/{id}/": {"get"},
    "/api/exports/{id}/download/": {"get"},
{%- endif %}
}


def test_the_schema_validates_without_warnings_and_documents_every_endpoint(tmp_path):
    schema_file = tmp_path / "schema.json"

    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(schema_file),
    )

    paths = json.loads(schema_file.read_text())["paths"]
    assert {path: set(operations) for path, operations in paths.items()} == ENDPOINTS
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("description"), f"{method.upper()} {path} has no description"


def test_the_schema_is_served_to_anyone():
    response = Client().get("/api/schema/", headers={"accept": "application/json"})

    assert response.status_code == 200
    assert "/api/devices/{id}/commands/" in response.json()["paths"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_load_their_scripts_from_this_project_not_a_cdn(page):
    html = Client().get(page).content.decode()

    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts, html
    for script in scripts:
        assert script.startswith("/static/"), script
        assert finders.find(script.removeprefix("/static/")), f"{script} is not a static file"
