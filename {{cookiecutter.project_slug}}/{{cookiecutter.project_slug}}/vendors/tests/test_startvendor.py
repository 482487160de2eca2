"""manage.py startvendor: what it writes passes ruff as written, and the vendor is configured;
what it refuses, it refuses in one line, writing nothing. The new vendor's test joins this
suite, and `make lint` type-checks its client, as they do any code of the project."""

import difflib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

PACKAGE = __name__.split(".")[0]
VENDORS = Path(PACKAGE) / "vendors"
CLIENT = VENDORS / "shelly_cloud.py"
CLIENT_TEST = VENDORS / "tests" / "test_shelly_cloud.py"
# Environments, caches and databases, which a copy of the project leaves out: the test
# databases of the other test processes too, and their journals, which come and go.
NOT_COPIED = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".ruff_cache",
    ".mypy_cache",
    ".pytest_cache",
    "__pycache__",
    "*.sqlite3*",
    ".env",
)
VARIABLES = {
    "SHELLY_CLOUD_API_URL": True,  # variable -> required in production
    "SHELLY_CLOUD_API_TOKEN": True,
    "SHELLY_CLOUD_API_TIMEOUT": False,
    "SHELLY_CLOUD_MAX_CALLS_AT_ONCE": False,
    "SHELLY_CLOUD_MAX_REQUESTS_PER_SECOND": False,
    "SHELLY_CLOUD_WEBHOOK_SECRET": False,
{%- if cookiecutter.use_mqtt %}
    "SHELLY_CLOUD_MQTT_TOPIC": False,
{%- endif %}
}


def run(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    """A command of this project's Python, in the copy, on test settings and SQLite."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        env=environment | {"DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def snapshot(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of this project, to which `manage.py startvendor "Shelly Cloud"` added a vendor."""
    copy = tmp_path_factory.mktemp("startvendor") / "project"
    shutil.copytree(settings.BASE_DIR, copy, ignore=NOT_COPIED)
    added = run(copy, "manage.py", "startvendor", "Shelly Cloud")
    assert added.returncode == 0, added.stderr
    return copy


def test_startvendor_writes_the_client_and_its_test(project):
    assert (project / CLIENT).is_file()
    assert "class ShellyCloudClient(HTTPVendorClient):" in (project / CLIENT).read_text()
    assert (project / CLIENT_TEST).is_file()


def test_what_startvendor_writes_passes_ruff_as_written(project):
    files = [str(CLIENT), str(CLIENT_TEST), "config/settings/base.py"]

    checked = run(project, "-m", "ruff", "check", *files)
    formatted = run(project, "-m", "ruff", "format", "--check", *files)

    assert checked.returncode == 0, checked.stdout
    assert formatted.returncode == 0, formatted.stdout


def test_the_new_vendor_is_in_settings_and_production_requires_its_url_and_token(project):
    script = (
        "import json; from django.conf import settings; "
        "entry = settings.VENDORS['shelly_cloud']; "
        "print(json.dumps([entry['CLIENT'], "
        "{s.variable: s.required_in_production for s in entry['SETTINGS']}]))"
    )

    shown = run(project, "manage.py", "shell", "--no-imports", "-c", script)

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1]) == [
        "shelly_cloud.ShellyCloudClient",
        VARIABLES,
    ]


def test_env_example_and_app_json_name_the_new_vendors_variables(project):
    env_example = (project / ".env.example").read_text().splitlines()
    app = json.loads((project / "app.json").read_text())

    assert {f"# {variable}=" for variable in VARIABLES} <= {
        line.partition("=")[0] + "=" for line in env_example
    }
    assert {
        variable: entry.get("required", True)
        for variable, entry in app["env"].items()
        if variable.startswith("SHELLY_CLOUD_")
    } == VARIABLES


@pytest.mark.parametrize("path", ["config/settings/base.py", ".env.example", "app.json"])
def test_the_files_startvendor_changes_only_gain_lines(project, path):
    before = (settings.BASE_DIR / path).read_text().splitlines()
    after = (project / path).read_text().splitlines()

    changes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()

    assert {change for change, *_ in changes} == {"equal", "insert"}


def test_a_vendor_added_twice_is_refused_in_one_line_and_nothing_changes(project):
    before = snapshot(project)

    refused = run(project, "manage.py", "startvendor", "Shelly Cloud")

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "CommandError: 'Shelly Cloud' makes the module name 'shelly_cloud', which "
        "settings.VENDORS has already: give the new vendor another name."
    ]
    assert snapshot(project) == before


@pytest.fixture
def bare_project(tmp_path, settings):
    """The files startvendor changes, in a directory of their own that settings.BASE_DIR names."""
    for path in ("config/settings/base.py", ".env.example", "app.json"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(settings.BASE_DIR / path, tmp_path / path)
    (tmp_path / VENDORS / "tests").mkdir(parents=True)
    settings.BASE_DIR = tmp_path
    return tmp_path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "'' has no letter or digit to make a module name of."),
        ("¡¿!?", "'¡¿!?' has characters without a plain ASCII spelling (¡¿)"),
        ("東京電力", "'東京電力' has characters without a plain ASCII spelling (東京電力)"),
        ('Acme "Cloud"', "'Acme \"Cloud\"' contains a double quote, backslash or newline."),
        ("Shelly Cloud " * 4, "is longer than 50 characters"),
    ],
)
def test_a_name_that_makes_no_module_name_is_refused(bare_project, name, message):
    before = snapshot(bare_project)

    with pytest.raises(CommandError) as refused:
        call_command("startvendor", name)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert snapshot(bare_project) == before


def test_a_name_settings_vendors_has_is_refused(bare_project, settings):
    settings.VENDORS = settings.VENDORS | {"shelly_cloud": settings.VENDORS["simulator"]}
    before = snapshot(bare_project)

    with pytest.raises(CommandError, match=r"which settings\.VENDORS has already"):
        call_command("startvendor", "Shelly Cloud")

    assert snapshot(bare_project) == before


def test_an_existing_test_file_is_refused_and_nothing_is_written(bare_project):
    (bare_project / CLIENT_TEST).write_text("")
    before = snapshot(bare_project)

    with pytest.raises(CommandError, match=f"{CLIENT_TEST} exists"):
        call_command("startvendor", "Shelly Cloud")

    assert snapshot(bare_project) == before


def test_settings_without_the_marker_are_refused_and_nothing_is_written(bare_project):
    base = bare_project / "config/settings/base.py"
    base.write_text(base.read_text().replace("startvendor adds", "adds"))
    before = snapshot(bare_project)

    with pytest.raises(CommandError, match="put it back"):
        call_command("startvendor", "Shelly Cloud")

    assert snapshot(bare_project) == before


def test_accents_are_taken_off_as_the_bake_takes_them_off(bare_project):
    call_command("startvendor", "Zürich Énergie", stdout=io.StringIO())

    assert (bare_project / VENDORS / "zurich_energie.py").is_file()
    assert "ZurichEnergieClient" in (bare_project / "config/settings/base.py").read_text()
