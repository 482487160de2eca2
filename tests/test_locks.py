"""Every bake ships a uv.lock that matches its pyproject.toml, whatever the answers: the locks
`make locks` stores are current, and no option outside LOCK_OPTIONS changes the dependencies."""

from __future__ import annotations

import json

import pytest

from .baking import TEMPLATE_DIR, bake
from .locking import LOCKS, POST_GEN, dependency_sets, lock_problem

OPTIONS = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())


def other_choices() -> dict[str, dict]:
    """Each answer but the default to every choice outside LOCK_OPTIONS, one at a time."""
    choices = {}
    for option, default in OPTIONS.items():
        if option.startswith("_") or option in POST_GEN.LOCK_OPTIONS:
            continue
        if isinstance(default, list):
            values = default[1:]
        elif isinstance(default, bool):
            values = [not default]
        else:
            continue
        choices |= {f"{option}={value}": {option: value} for value in values}
    return choices


DEPENDENCY_SETS = {
    name.removesuffix(".lock"): answers for name, answers in dependency_sets().items()
}
BAKES = DEPENDENCY_SETS | other_choices()


@pytest.mark.parametrize("answers", BAKES.values(), ids=BAKES)
def test_the_bake_ships_a_lock_that_matches_its_pyproject(tmp_path, answers):
    project = bake(tmp_path, **answers)

    problem = lock_problem(project)

    assert problem is None, problem


def test_the_template_stores_one_lock_per_dependency_set_and_no_other():
    stored = sorted(path.name for path in LOCKS.iterdir())

    assert stored, f"no lock in {LOCKS}: run `make locks`"
    assert stored == sorted(dependency_sets())


def test_the_locks_are_copied_not_rendered():
    # Jinja would read every lock as a template at every bake: slower, and wrong for any `{{`.
    assert POST_GEN.LOCKS_DIR in OPTIONS["_copy_without_render"]
