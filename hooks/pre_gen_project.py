"""Refuse a bake whose answers would produce a broken project.

Cookiecutter renders this file with Jinja before running it. Jinja appears only inside the
string literal below, so the module stays plain, importable Python that the template's tests
call directly. Every problem is reported on one line of its own; `assert` is not used because
it vanishes under `python -O`.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import zoneinfo

ANSWERS = r"""{{ cookiecutter | jsonify }}"""

# Top-level names a baked project imports or contains: a package with one of these names
# would shadow it. The standard library is added in `shadowed_import`.
PROJECT_IMPORTS = frozenset(
    {
        "celery",
        "config",
        "django",
        "environ",
        "factory",
        "gunicorn",
        "httpx",
        "kombu",
        "manage",
        "psycopg",
        "pytest",
        "redis",
        "rest_framework",
        "sentry_sdk",
        "test",
        "tests",
        "whitenoise",
    }
)
# Modules that live next to the vendor client inside the vendors package.
RESERVED_VENDOR_MODULES = frozenset({"base", "registry", "simulator", "tests"})

SLUG = re.compile(r"[a-z][a-z0-9_]*")
# Longer package names would push generated lines past the line length ruff enforces.
MAX_NAME_LENGTH = 40
MAX_VENDOR_MODULE_LENGTH = 30
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")
SCHEDULERS = ("celery-beat", "heroku-scheduler")
CI_CHOICES = ("github", "none")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "Not open source")
# Text answers are written into Python and TOML string literals.
UNSAFE_TEXT = re.compile(r'["\\\n]')


def shadowed_import(name: str) -> bool:
    return name in PROJECT_IMPORTS or name in sys.stdlib_module_names


def slug_problem(name: str, option: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return f"{option} {name!r} is longer than {MAX_NAME_LENGTH} characters: pick a shorter one."
    if not SLUG.fullmatch(name) or keyword.iskeyword(name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "my_project"
        return (
            f"{option} {name!r} is not a lowercase Python identifier: use letters, digits and "
            f"underscores, starting with a letter (e.g. {suggestion!r})."
        )
    if shadowed_import(name):
        return (
            f"{option} {name!r} would shadow the {name!r} module the project imports: "
            f"pick another name (e.g. 'my_{name}')."
        )
    return None


def validate(answers: dict) -> list[str]:
    """Return one line per problem with the answers; an empty list means they are fine."""
    problems = []

    for option in ("project_name", "description", "author_name", "vendor_name"):
        text = answers[option]
        if option != "description" and not text.strip():
            problems.append(f"{option} is empty: give it a value.")
        elif UNSAFE_TEXT.search(text):
            problems.append(f"{option} {text!r} contains a double quote, backslash or newline.")

    if problem := slug_problem(answers["project_slug"], "project_slug"):
        problems.append(problem)

    vendor_module = answers["__vendor_module"]
    if answers["vendor_name"].strip():
        if vendor_module in RESERVED_VENDOR_MODULES:
            problems.append(
                f"vendor_name {answers['vendor_name']!r} would be the module "
                f"vendors/{vendor_module}.py, which the template already uses: pick another name."
            )
        elif len(vendor_module) > MAX_VENDOR_MODULE_LENGTH:
            problems.append(
                f"vendor_name {answers['vendor_name']!r} is longer than "
                f"{MAX_VENDOR_MODULE_LENGTH} characters: pick a shorter one."
            )
        elif problem := slug_problem(vendor_module, "vendor_name's module name"):
            problems.append(problem)

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

    for option in ("use_sentry", "use_flower"):
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
