"""Jinja filters that cookiecutter.json derives names with.

Cookiecutter imports this module through "_extensions" in cookiecutter.json, with the template's
directory on sys.path. The derivation itself lives in hooks/pre_gen_project.py, beside the rules
a name must pass and the error messages that suggest names: cookiecutter runs that hook as a lone
copy that cannot import this module, so this module loads the hook instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"


def load_pre_gen_hook():
    spec = importlib.util.spec_from_file_location("pre_gen_project", PRE_GEN_HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NamesExtension(Extension):
    """`project_name | project_slug`, `vendor_name | vendor_module`, `module | vendor_class`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        names = load_pre_gen_hook()
        environment.filters.update(
            project_slug=names.project_slug,
            vendor_module=names.vendor_module,
            vendor_class=names.vendor_class,
        )
