"""Refuse a bake whose answers would produce a broken project; derive the names nobody types.

Cookiecutter renders this file with Jinja before running it. Jinja appears only inside the
string literal below, so the module stays plain, importable Python that the template's tests
call directly. Every problem is reported on one line of its own; `assert` is not used because
it vanishes under `python -O`.

The names derived from what a person typed (the package from project_name, the vendor's module
and class from vendor_name) are made here, beside the rules they must pass: cookiecutter.json
calls these functions through the filters of local_extensions.py, and every error below suggests
what they return. Cookiecutter runs this hook as a lone copy, so the hook cannot import the
extension; the extension loads the hook.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
import zoneinfo

# Cookiecutter needs python-slugify, which needs text-unidecode: every baking Python has it.
from text_unidecode import unidecode

ANSWERS = r"""{{ cookiecutter | jsonify }}"""

# Top-level names a baked project imports or contains: a package with one of these names
# would shadow it. The standard library is added in `shadowed_import`.
PROJECT_IMPORTS = frozenset(
    {
        "config",
        "django",
        "drf_spectacular",
        "environ",
        "factory",
        "gunicorn",
        "httpx",
        "hypothesis",
        "manage",
        "orjson",
        "psycopg",
        "pytest",
        "respx",
        "rest_framework",
        "sentry_sdk",
        "test",
        "tests",
        "whitenoise",
    }
)
# And those it imports in celery-beat mode; a name is refused in either mode.
SCHEDULER_IMPORTS = frozenset({"celery", "fakeredis", "kombu", "redbeat", "redis"})
# Those a baked project imports with use_mqtt.
MQTT_IMPORTS = frozenset({"paho"})
# The options' own, each refused whatever the answers.
OPTIONAL_IMPORTS = SCHEDULER_IMPORTS | MQTT_IMPORTS
# The vendors package's own modules, which the vendor's client module sits beside; and
# "vendor", whose client class would be VendorClient, the interface every client subclasses.
RESERVED_VENDOR_MODULES = frozenset(
    {
        "apps",
        "base",
        "checks",
        "example_api",
        "http",
        "limits",
        "management",
        "migrations",
        "models",
        "naming",
        "registry",
        "signing",
        "simulator",
        "simulator_api",
        "skeleton",
        "tests",
        "vendor",
    }
)
# And the one it holds in celery-beat mode; taken in either mode.
SCHEDULER_VENDOR_MODULES = frozenset({"redis_limits", "simulator_redis"})
# The one the vendors package holds with use_mqtt.
MQTT_VENDOR_MODULES = frozenset({"mqtt_push"})
OPTIONAL_VENDOR_MODULES = SCHEDULER_VENDOR_MODULES | MQTT_VENDOR_MODULES
# What the vendor's module may not be called, whatever the answers.
TAKEN_VENDOR_MODULES = RESERVED_VENDOR_MODULES | OPTIONAL_VENDOR_MODULES

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
# Longer package names would push generated lines past the line length ruff enforces.
MAX_NAME_LENGTH = 40
MAX_VENDOR_MODULE_LENGTH = 30
# Put before a derived name that would start with a digit, be a keyword, or be taken; no
# keyword, module or reserved name starts with it, so the prefixed name is always free.
PREFIX = "my_"
WORD = re.compile(r"[a-z0-9]+")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")
SCHEDULERS = ("celery-beat", "heroku-scheduler")
CI_CHOICES = ("github", "none")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "Not open source")
# Text answers are written into Python and TOML string literals.
UNSAFE_TEXT = re.compile(r'["\\\n]')


def shadowed_import(name: str) -> bool:
    return name in PROJECT_IMPORTS | OPTIONAL_IMPORTS or name in sys.stdlib_module_names


def name_problem(name: str, max_length: int, reserved: frozenset[str] = frozenset()) -> str | None:
    """Why name cannot be a package or module of the project, or None when it can."""
    if len(name) > max_length:
        return f"is longer than {max_length} characters"
    if not IDENTIFIER.fullmatch(name):
        return (
            "is not a lowercase Python identifier (letters, digits and underscores, "
            "starting with a letter)"
        )
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in reserved:
        return "is taken in the vendors package"
    if shadowed_import(name):
        return f"would shadow the {name!r} module the project imports"
    return None


def to_ascii(text: str) -> str:
    """text transliterated to ASCII (ü -> u, ß -> ss, 温 -> wen). The baked project's
    vendors/naming.py, which holds the rules below for `manage.py startvendor`, has its own."""
    return unidecode(text)


def ascii_words(text: str) -> list[str]:
    """The words of text in lowercase ASCII: accents transliterated (ü -> u, ß -> ss),
    apostrophes dropped (O'Neill's -> oneills), any other mark a break between words."""
    # NFKC first: text-unidecode drops what its table lacks, such as circled digits and
    # mathematical letters, whose plain forms NFKC gives.
    ascii_text = to_ascii(unicodedata.normalize("NFKC", text)).lower()
    return WORD.findall(ascii_text.replace("'", ""))


def joined(words: list[str], max_length: int, prefix: str = "") -> str:
    """The words joined by underscores, up to the last whole word that fits; only a first word
    too long on its own is cut."""
    name = (prefix + words[0])[:max_length]
    for word in words[1:]:
        if len(name) + 1 + len(word) > max_length:
            break
        name = f"{name}_{word}"
    return name


def derived_name(
    text: str, max_length: int, fallback: str, reserved: frozenset[str] = frozenset()
) -> str:
    """A name that passes name_problem, whatever text a person typed; fallback when it has no
    letter or digit."""
    words = ascii_words(text)
    if not words:
        return fallback
    name = joined(words, max_length)
    if name_problem(name, max_length, reserved):
        name = joined(words, max_length, PREFIX)
    return name


def project_slug(project_name: str) -> str:
    return derived_name(project_name, MAX_NAME_LENGTH, "my_project")


def vendor_module(vendor_name: str) -> str:
    return derived_name(vendor_name, MAX_VENDOR_MODULE_LENGTH, "my_vendor", TAKEN_VENDOR_MODULES)


def vendor_class(module: str) -> str:
    """The vendor's client class: acme_cloud -> AcmeCloudClient."""
    return module.title().replace("_", "") + "Client"


def validate(answers: dict) -> list[str]:
    """Return one line per problem with the answers; an empty list means they are fine."""
    problems = []

    for option in ("project_name", "description", "author_name", "vendor_name"):
        text = answers[option]
        if option != "description" and not text.strip():
            problems.append(f"{option} is empty: give it a value.")
        elif UNSAFE_TEXT.search(text):
            problems.append(f"{option} {text!r} contains a double quote, backslash or newline.")

    slug = answers["project_slug"]
    if problem := name_problem(slug, MAX_NAME_LENGTH):
        problems.append(
            f"project_slug {slug!r} {problem}: use {project_slug(slug)!r} or another name."
        )

    # Derived, never typed; checked in case cookiecutter was handed one (extra context, replay).
    module = answers["__vendor_module"]
    if answers["vendor_name"].strip() and (
        problem := name_problem(module, MAX_VENDOR_MODULE_LENGTH, TAKEN_VENDOR_MODULES)
    ):
        problems.append(
            f"vendor_name {answers['vendor_name']!r} makes the module name {module!r}, "
            f"which {problem}: use {vendor_module(module)!r} or another name."
        )

    if not EMAIL.fullmatch(answers["email"]):
        problems.append(f"email {answers['email']!r} does not look like an email address.")

    if not VERSION.fullmatch(answers["version"]):
        problems.append(
            f"version {answers['version']!r} is not a version number like '0.1.0' or '1.0rc1'."
        )

    try:
        zoneinfo.ZoneInfo(answers["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"timezone {answers['timezone']!r} is not an IANA time zone like 'Europe/Berlin'."
        )

    for option, choices in (
        ("scheduler", SCHEDULERS),
        ("ci", CI_CHOICES),
        ("open_source_license", LICENSES),
    ):
        if answers[option] not in choices:
            problems.append(f"{option} {answers[option]!r} is not one of {', '.join(choices)}.")

    for option in ("use_sentry", "use_flower", "use_mqtt"):
        if not isinstance(answers[option], bool):
            problems.append(f"{option} {answers[option]!r} is not yes or no.")

    if answers["use_flower"] is True and answers["scheduler"] != "celery-beat":
        problems.append(
            "use_flower needs scheduler 'celery-beat': Flower watches Celery workers, "
            f"and {answers['scheduler']!r} has none."
        )
    return problems


def main() -> int:
    problems = validate(json.loads(ANSWERS))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
