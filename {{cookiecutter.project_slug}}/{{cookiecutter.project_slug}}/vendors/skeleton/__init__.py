"""What a new vendor starts from: its client and tests, its entry in settings.VENDORS, its
variables in .env.example and app.json. `manage.py startvendor` adds a vendor with add_vendor(),
and so did the bake for the project's first one.

Plain Python without Django: the bake runs it before any dependency is installed. The new files
are the string.Template texts beside this module (*.py-tpl, which no linter or test runner
picks up); the vendor's settings are declared once, in SETTINGS, and its entry in
settings.VENDORS, its lines in .env.example and its entries in app.json follow from them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent
SETTINGS_FILE = Path("config/settings/base.py")
# The line that ends settings.VENDORS: a new vendor's entry goes above it.
SETTINGS_MARKER = "    # manage.py startvendor adds each new vendor above this line.\n"
# A new vendor's variables go above this line of .env.example, or at its end without it.
ENV_ANCHOR = "# Monitoring\n"
APP_JSON_ENV = re.compile(r'^  "env": \{\n', re.MULTILINE)
# How far the vendor's limits hold (vendors/limits.py).
LIMITS_SCOPE = "{% if cookiecutter.scheduler == 'celery-beat' %}across every dyno{% else %}within each process{% endif %}"


@dataclass(frozen=True)
class Setting:
    """One option of a vendor's entry in settings.VENDORS, read from <MODULE>_<suffix>."""

    option: str
    suffix: str
    # Python source of the default; None: required in production, and no default.
    default: str | None
    # What .env.example shows, commented out.
    example: str
    # What app.json says of it; {name} is the vendor's name, {scope} LIMITS_SCOPE.
    description: str
    # Said in settings/base.py and .env.example above this setting.
    comment: str = ""


SETTINGS = (
    Setting(
        option="base_url",
        suffix="API_URL",
        default=None,
        example="https://api.example.com/v1/",
        description="The base URL of {name}'s API.",
    ),
    Setting(
        option="api_token",
        suffix="API_TOKEN",
        default=None,
        example="",
        description="The key {name} gave you.",
    ),
    Setting(
        option="timeout",
        suffix="API_TIMEOUT",
        default="10.0",
        example="5",
        description="Seconds one request to {name} may take.",
    ),
    Setting(
        option="max_calls_at_once",
        suffix="MAX_CALLS_AT_ONCE",
        default="0",
        example="4",
        description="Calls to {name} in flight at once, {scope} (0: no limit).",
        comment=(
            "What the vendor allows (0: no limit); vendors/limits.py keeps every call within it."
        ),
    ),
    Setting(
        option="max_requests_per_second",
        suffix="MAX_REQUESTS_PER_SECOND",
        default="0.0",
        example="1",
        description="Calls to {name} started per second, {scope} (0: no limit).",
    ),
    Setting(
        option="webhook_secret",
        suffix="WEBHOOK_SECRET",
        default='""',
        example="",
        description="The secret {name} signs its webhooks with (empty: it does not push).",
        comment="Set when the vendor pushes: its webhooks are verified with it (api/webhooks.py).",
    ),
{%- if cookiecutter.use_mqtt %}
    Setting(
        option="mqtt_topic",
        suffix="MQTT_TOPIC",
        default='""',
        example="",
        description="The MQTT topic {name} publishes its pushes to (empty: it does not).",
        comment="Set when the vendor publishes to the MQTT broker: consume_mqtt subscribes to it.",
    ),
{%- endif %}
)


class SkeletonError(Exception):
    """A file the new vendor goes into is not as this module expects; its message is one line
    that says what to do."""


@dataclass(frozen=True)
class NewVendor:
    name: str  # as people write it: "Shelly Cloud"
    module: str  # its key in settings.VENDORS and its module in vendors/: "shelly_cloud"
    class_name: str  # "ShellyCloudClient"

    def variable(self, setting: Setting) -> str:
        return f"{self.module.upper()}_{setting.suffix}"


def add_vendor(root: Path, package: str, vendor: NewVendor) -> list[Path]:
    """Write the vendor's files and add it to the project's settings, .env.example and app.json;
    return the paths written, relative to root. Nothing is written unless all of it can be."""
    changes = vendor_changes(root, package, vendor)
    for path, text in changes.items():
        (root / path).write_text(text)
    return list(changes)


def vendor_changes(root: Path, package: str, vendor: NewVendor) -> dict[Path, str]:
    """Each file that adding the vendor writes, relative to root, with its new text."""
    vendors = Path(package) / "vendors"
    new_files = {
        vendors / f"{vendor.module}.py": "client.py-tpl",
        vendors / "tests" / f"test_{vendor.module}.py": "test_client.py-tpl",
    }
    for path in new_files:
        if (root / path).exists():
            raise SkeletonError(f"{path} exists: pick another name, or remove it first.")
    return {
        **{path: rendered(template, vendor) for path, template in new_files.items()},
        SETTINGS_FILE: with_settings_entry(read(root, SETTINGS_FILE), vendor),
        Path(".env.example"): with_env_lines(read(root, Path(".env.example")), vendor),
        Path("app.json"): with_app_json_entries(read(root, Path("app.json")), vendor),
    }


def read(root: Path, path: Path) -> str:
    try:
        return (root / path).read_text()
    except FileNotFoundError:
        raise SkeletonError(f"{path} is missing: run the command in the project's root.") from None


# The client's docstring on the settings of a vendor that pushes.
PUSH_SETTINGS = """\
    WEBHOOK_SECRET            for a vendor that pushes: what it signs its webhooks with
                              (empty: it does not push; parse_push below reads them)
{%- if cookiecutter.use_mqtt %}
    MQTT_TOPIC                for a vendor that publishes to the MQTT broker: the topic
                              consume_mqtt subscribes to (empty: none; parse_push reads them)
{%- endif %}"""


def rendered(template: str, vendor: NewVendor) -> str:
    return Template((TEMPLATES / template).read_text()).substitute(
        push_settings=PUSH_SETTINGS,
        vendor_name=vendor.name,
        module=vendor.module,
        class_name=vendor.class_name,
        prefix=vendor.module.upper(),
    )


def with_settings_entry(text: str, vendor: NewVendor) -> str:
    if text.count(SETTINGS_MARKER) != 1:
        raise SkeletonError(
            f"{SETTINGS_FILE} needs the line {SETTINGS_MARKER.strip()!r} once, at the end of "
            "VENDORS: put it back."
        )
    lines = [
        f'    "{vendor.module}": vendor(',
        "        env,",
        f'        "{vendor.module}.{vendor.class_name}",',
    ]
    for setting in SETTINGS:
        if setting.comment:
            lines.append(f"        # {setting.comment}")
        if setting.default is None:
            value = "required_in_production=True"
        else:
            value = f"default={setting.default}"
        lines += [
            "        VendorSetting(",
            f'            "{setting.option}",',
            f'            "{vendor.variable(setting)}",',
            f"            {value},",
            "        ),",
        ]
    lines.append("    ),\n")
    return text.replace(SETTINGS_MARKER, "\n".join(lines) + SETTINGS_MARKER)


def with_env_lines(text: str, vendor: NewVendor) -> str:
    lines = [f"# {vendor.name}'s API (vendors/{vendor.module}.py)"]
    for setting in SETTINGS:
        if setting.comment:
            lines.append(f"# {setting.comment}")
        lines.append(f"# {vendor.variable(setting)}={setting.example}")
    block = "\n".join(lines) + "\n"
    before, anchor, after = text.partition(ENV_ANCHOR)
    if not anchor:
        return text.rstrip("\n") + "\n\n" + block
    return before + block + "\n" + anchor + after


def with_app_json_entries(text: str, vendor: NewVendor) -> str:
    """app.json with the vendor's variables first in its env, the ones production requires
    required; the rest of the file as it was written."""
    entries = {vendor.variable(setting): app_json_entry(setting, vendor) for setting in SETTINGS}
    try:
        env = json.loads(text)["env"]
    except (ValueError, KeyError, TypeError) as error:
        raise SkeletonError(f"app.json has no env to add variables to: {error}") from None
    if taken := sorted(set(entries) & set(env)):
        raise SkeletonError(f"app.json has {', '.join(taken)} already: remove them first.")
    if len(APP_JSON_ENV.findall(text)) != 1:
        raise SkeletonError('app.json needs its "env" on a line of its own: `  "env": {`.')
    block = "".join(
        f"    {json.dumps(name)}: {indented(entry)},\n" for name, entry in entries.items()
    )
    new_text = APP_JSON_ENV.sub(lambda line: line[0] + block, text)
    # Edited as text, so that the file keeps its layout: check the JSON that came out.
    if json.loads(new_text)["env"] != entries | env:
        raise SkeletonError('app.json\'s "env" is not where its first line says: add them by hand.')
    return new_text


def app_json_entry(setting: Setting, vendor: NewVendor) -> dict:
    description = setting.description.format(name=vendor.name, scope=LIMITS_SCOPE)
    entry: dict = {"description": description}
    if setting.default is not None:
        entry["required"] = False
    return entry


def indented(entry: dict) -> str:
    # As app.json is written: two spaces per level, the entry's fields at the third.
    return json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n    ")
