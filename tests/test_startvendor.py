"""`manage.py startvendor` in a baked project: it names a vendor as the bake would, writes what
a bake for that vendor holds, and leaves a project that passes its own `make lint` and the new
vendor's tests."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from .baking import bake, run, uv_executable

# Names in the Latin scripts, accents and punctuation included: mostly names the baked rules
# spell, some (ß, ø, ł) that they refuse.
latin_names = st.text(st.characters(max_codepoint=0x24F, exclude_categories=["Cs"]))

NEW_VENDOR = "Shelly Cloud"
NEW_FILES = [
    "iot_monitor/vendors/shelly_cloud.py",
    "iot_monitor/vendors/tests/test_shelly_cloud.py",
]


# What startvendor writes depends on the options: MQTT adds a topic setting and a parse_push.
# The default bake, and one with every option that changes it flipped.
VARIANTS = {
    "default": {},
    "heroku-scheduler-mqtt": {"scheduler": "heroku-scheduler", "use_mqtt": True},
}


@pytest.fixture(scope="module", params=VARIANTS.values(), ids=VARIANTS.keys())
def answers(request) -> dict:
    return request.param


@pytest.fixture(scope="module")
def baked(tmp_path_factory, answers) -> Path:
    """A bake, synced, to which startvendor added Shelly Cloud."""
    project = bake(tmp_path_factory.mktemp("startvendor"), **answers)
    uv = uv_executable()
    run([uv, "sync", "--locked", "--quiet"], cwd=project)
    run([uv, "run", "python", "manage.py", "startvendor", NEW_VENDOR], cwd=project)
    return project


@pytest.fixture(scope="module")
def baked_naming(tmp_path_factory):
    """The baked project's vendors/naming.py, imported from a bake."""
    path = bake(tmp_path_factory.mktemp("naming")) / "iot_monitor" / "vendors" / "naming.py"
    spec = importlib.util.spec_from_file_location("baked_naming", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vendor_entry(settings_text: str, module: str) -> str:
    """A vendor's entry in settings.VENDORS, as written in config/settings/base.py."""
    return re.search(rf'^    "{module}": vendor\(\n.*?^    \),\n', settings_text, re.M | re.S)[0]


def env_lines(env_example: str, module: str) -> list[str]:
    return [line for line in env_example.splitlines() if module.upper() in line]


def test_the_new_vendor_is_what_a_bake_for_it_holds(baked, answers, tmp_path):
    """The bake adds its first vendor with the code of startvendor: a bake for Shelly Cloud
    holds, for it, exactly what startvendor adds to a project baked for another vendor."""
    baked_for_it = bake(tmp_path, vendor_name=NEW_VENDOR, **answers)

    for path in NEW_FILES:
        assert (baked / path).read_text() == (baked_for_it / path).read_text(), path
    settings = "config/settings/base.py"
    assert vendor_entry((baked / settings).read_text(), "shelly_cloud") == vendor_entry(
        (baked_for_it / settings).read_text(), "shelly_cloud"
    )
    assert env_lines((baked / ".env.example").read_text(), "shelly_cloud") == env_lines(
        (baked_for_it / ".env.example").read_text(), "shelly_cloud"
    )
    app, app_for_it = (
        json.loads((root / "app.json").read_text())["env"] for root in (baked, baked_for_it)
    )
    assert {k: v for k, v in app.items() if k.startswith("SHELLY_CLOUD_")} == {
        k: v for k, v in app_for_it.items() if k.startswith("SHELLY_CLOUD_")
    }


def test_the_project_with_the_new_vendor_passes_make_lint(baked):
    uv = uv_executable()
    # The baked Makefile calls `uv`, which may be on no PATH but the one `uv run` was given.
    path = f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    result = run(["make", "lint"], cwd=baked, PATH=path)

    assert "Success: no issues found" in result.stdout


def test_the_new_vendors_tests_pass(baked):
    result = run(
        [uv_executable(), "run", "pytest", "-q", "-p", "no:cacheprovider", NEW_FILES[1]],
        cwd=baked,
    )

    assert " passed" in result.stdout


@given(latin_names)
@example("Zürich Énergie")
@example("Acme (EU) Cloud GmbH & Co. KG")
@example("Simulator")
def test_startvendor_names_a_vendor_as_the_bake_does(pre_gen, baked_naming, vendor_name):
    try:
        module = baked_naming.vendor_module(vendor_name)
    except ValueError:  # letters beyond ASCII other than accented ones: the command refuses
        assume(False)

    assert module == pre_gen.vendor_module(vendor_name)
    assert baked_naming.vendor_class(module) == pre_gen.vendor_class(module)


def test_startvendor_refuses_what_it_cannot_spell_as_the_bake_would(baked_naming):
    for refused in ("Straße", "東京電力", "O\u2019Neill"):
        with pytest.raises(ValueError, match="without a plain ASCII spelling"):
            baked_naming.vendor_module(refused)
