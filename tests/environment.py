"""What a baked project tells Heroku: the environment variables its settings read (found by
parsing them), those its deploy guide sets, and the processes of its Procfiles.

Every variable the settings read is read through django-environ's `env` (`env("NAME")`,
`env.bool("NAME", default=…)`) or declared by a vendor (`VendorSetting(option, "NAME", …)`),
in a module of config/. A read without a default in production settings, and a vendor
setting required in production, are what production requires.
"""

from __future__ import annotations

import ast
import re
import secrets
from pathlib import Path

import pytest

PRODUCTION_SETTINGS = Path("config/settings/production.py")
# What each add-on of app.json sets on the app (Heroku Postgres, Heroku Key-Value Store).
ADDON_VARIABLES = {"heroku-postgresql": {"DATABASE_URL"}, "heroku-redis": {"REDIS_URL"}}
# Set on Heroku although the settings have a default: Heroku Key-Value Store presents a
# self-signed certificate, which cannot be verified.
HEROKU_REDIS_VARIABLES = {"REDIS_SSL_CERT_REQS"}
# Values for the variables production requires, by name or by the end of the name.
EXAMPLE_VALUES = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": ".herokuapp.com",
    "EMAIL_URL": "smtp+tls://alerts:password@smtp.example.com:587",
    "DJANGO_ADMINS": "Ann <ann@example.com>",
    # Nothing listens there: Sentry's events are refused at once.
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
    "REDIS_SSL_CERT_REQS": "none",
    # A broker's URL as a hosted one gives it; nothing listens there.
    "MQTT_URL": "mqtts://consumer:password@127.0.0.1:9",
    "_API_URL": "https://api.example.com/v1/",
    "_API_TOKEN": "a-token",
}
CONFIG_SET = re.compile(r"^heroku config:set\b")
ASSIGNED_NAME = re.compile(r"\b([A-Z][A-Z0-9_]*)=")


def settings_variables(project: Path) -> dict[str, bool]:
    """Each variable the settings read, and whether production requires it."""
    variables: dict[str, bool] = {}
    for path in sorted((project / "config").rglob("*.py")):
        in_production = path.relative_to(project) == PRODUCTION_SETTINGS
        for call in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(call, ast.Call):
                read = _variable_read(call, in_production, path)
                if read is not None:
                    name, required = read
                    variables[name] = variables.get(name, False) or required
    return variables


def _variable_read(call: ast.Call, in_production: bool, path: Path) -> tuple[str, bool] | None:
    function = call.func
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if isinstance(function, ast.Name) and function.id == "VendorSetting":
        variable = call.args[1] if len(call.args) > 1 else keywords["variable"]
        required = keywords.get("required_in_production")
        return _literal(variable, path), isinstance(required, ast.Constant) and required.value
    reads_env = (isinstance(function, ast.Name) and function.id == "env") or (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id == "env"
        and function.attr != "read_env"
    )
    if not reads_env:
        return None
    return _literal(call.args[0], path), in_production and "default" not in keywords


def _literal(node: ast.expr, path: Path) -> str:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise AssertionError(
            f"{path}:{node.lineno}: a variable read by a name that is not a literal; the "
            "template's tests cannot tell which"
        )
    return node.value


def guide_variables(readme: str) -> set[str]:
    """The variables the README's deploy guide sets with `heroku config:set`."""
    lines = readme.splitlines()
    start = next((i for i, line in enumerate(lines) if CONFIG_SET.match(line)), len(lines))
    command = []
    for line in lines[start:]:
        command.append(line)
        if not line.endswith("\\"):
            break
    return set(ASSIGNED_NAME.findall("\n".join(command)))


def example_values(names: set[str], **known: str) -> dict[str, str]:
    """A value for each of these variables: `known` ones, else one from EXAMPLE_VALUES."""
    values = {}
    for name in names:
        key = next((k for k in (*known, *EXAMPLE_VALUES) if name.endswith(k)), None)
        if key is None:
            pytest.fail(f"production requires {name}: give tests/environment.py a value for it")
        values[name] = known.get(key) or EXAMPLE_VALUES[key]
    return values


def dotenv_example_variables(text: str) -> set[str]:
    """The variables .env.example names, set or commented out."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def procfile(path: Path) -> dict[str, str]:
    """A Procfile's processes: name -> command line."""
    return dict(line.split(": ", 1) for line in path.read_text().splitlines() if line)
