"""Jinja filters that cookiecutter.json derives names with.

Cookiecutter imports this module through "_extensions" in cookiecutter.json, with the template's
directory on sys.path. The derivation itself lives in hooks/pre_gen_project.py, beside the rules
a name must pass and the error messages that suggest names: cookiecutter runs that hook as a lone
copy that cannot import this module, so this module loads the hook instead. The baked project
names its next vendors by the same rules (`manage.py startvendor`): its vendors/naming.py is
rendered from the hook's own definitions by `pre_gen_hook_definitions`.
"""

from __future__ import annotations

import ast
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


def defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


def pre_gen_hook_definitions(*names: str) -> str:
    """The source of these top-level constants and functions of the pre-gen hook, each with the
    comment above it, in the hook's order and spaced as ruff format spaces them."""
    lines = PRE_GEN_HOOK.read_text().splitlines()
    blocks: list[str] = []
    found: set[str] = set()
    previous_is_function = False
    for node in ast.parse("\n".join(lines)).body:
        if not defined_names(node) & set(names):
            continue
        found |= defined_names(node)
        start = node.lineno - 1
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        block = "\n".join(lines[start : node.end_lineno])
        if blocks:
            # Two blank lines around a function, as ruff format wants; one between constants.
            is_function = isinstance(node, ast.FunctionDef)
            blocks.append("\n\n\n" if is_function or previous_is_function else "\n\n")
        blocks.append(block)
        previous_is_function = isinstance(node, ast.FunctionDef)
    if missing := set(names) - found:
        raise LookupError(f"{PRE_GEN_HOOK} defines no {', '.join(sorted(missing))}")
    return "".join(blocks)


class NamesExtension(Extension):
    """`project_name | project_slug`, `vendor_name | vendor_module`, `module | vendor_class`,
    and `pre_gen_hook_definitions(...)`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        names = load_pre_gen_hook()
        environment.filters.update(
            project_slug=names.project_slug,
            vendor_module=names.vendor_module,
            vendor_class=names.vendor_class,
        )
        environment.globals["pre_gen_hook_definitions"] = pre_gen_hook_definitions
