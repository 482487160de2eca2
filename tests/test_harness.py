"""The harness runs a baked project's commands in an environment of the project's own."""

from __future__ import annotations

import pytest

from .baking import bake, project_environment
from .environment import settings_variables


@pytest.mark.parametrize("inside_the_project", [True, False])
def test_no_variable_the_settings_read_leaks_into_a_baked_project(
    tmp_path, monkeypatch, inside_the_project
):
    project = bake(tmp_path)
    read = set(settings_variables(project))
    for name in read | {"DYNO", "DJANGO_SETTINGS_MODULE"}:
        monkeypatch.setenv(name, "from the template's environment")

    environment = project_environment(project if inside_the_project else None, PORT="8000")

    assert "MONITOR_INTERVAL_SECONDS" in read and "SIMULATOR_ERROR_RATE" in read
    assert read & set(environment) == set()
    assert {"DYNO", "DJANGO_SETTINGS_MODULE"} & set(environment) == set()
    assert environment["PORT"] == "8000"
