"""Every variant in the render matrix passes its own `make lint`, mypy included, with the
configuration and stubs it ships. `make typecheck` runs this module alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .baking import bake, run, uv_executable
from .variants import RENDER_MATRIX


@pytest.mark.parametrize("name", list(RENDER_MATRIX))
def test_make_lint_finds_no_type_error(name, tmp_path):
    # A bake of its own: the render tests read every file of theirs, and mypy writes a cache.
    project = bake(tmp_path, **RENDER_MATRIX[name])
    uv = uv_executable()
    # All bakes share uv's cache: after the first sync, the others link what it downloaded.
    run([uv, "sync", "--quiet"], cwd=project)

    # The baked Makefile calls `uv`, which may be on no PATH but the one `uv run` was given.
    path = f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run(["make", "lint"], cwd=project, PATH=path)

    assert "Success: no issues found" in result.stdout
