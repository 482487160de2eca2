"""`make locks`: refresh the uv.lock that each dependency set of the baked project ships with.

The post-gen hook's LOCK_OPTIONS are the options that change the baked pyproject.toml's
dependencies. Each combination of their answers that the pre-gen hook accepts is baked with the
default answers to everything else, locked by uv, and stored in the project template's
LOCKS_DIR under the name the hook looks for. A bake starts from the stored lock, so `uv lock`
keeps every version that still fits and resolves only what changed; `--upgrade` (make locks
UPGRADE=1) moves every package to its newest version allowed.

Run as `python -m tests.locking [--upgrade]` from the template's root; tests/test_locks.py
fails while a lock is stale.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .baking import (
    PROJECT_TEMPLATE,
    TEMPLATE_DIR,
    bake_command,
    load_hook,
    project_environment,
    rendered_answers,
    uv_executable,
)

POST_GEN = load_hook("post_gen_project")
PRE_GEN = load_hook("pre_gen_project")
LOCKS = PROJECT_TEMPLATE / POST_GEN.LOCKS_DIR


def dependency_sets() -> dict[str, dict]:
    """Lock file name -> the answers to LOCK_OPTIONS that bake it, for every valid combination."""
    options = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    values = [
        options[option] if isinstance(options[option], list) else [False, True]
        for option in POST_GEN.LOCK_OPTIONS
    ]
    sets = {}
    for combination in itertools.product(*values):
        answers = dict(zip(POST_GEN.LOCK_OPTIONS, combination, strict=True))
        full_answers = rendered_answers(**answers)
        if not PRE_GEN.validate(full_answers):
            sets[POST_GEN.lock_name(full_answers)] = answers
    return sets


def lock_problem(project: Path) -> str | None:
    """Why a baked project's uv.lock does not match its pyproject.toml; None when it does."""
    result = subprocess.run(
        [uv_executable(), "lock", "--check", "--offline"],
        cwd=project,
        env=project_environment(),
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        return None
    return (
        f"{project.name}'s uv.lock does not match its pyproject.toml: run `make locks`; if an "
        f"option other than {', '.join(POST_GEN.LOCK_OPTIONS)} changed the dependencies, add it "
        f"to LOCK_OPTIONS in hooks/post_gen_project.py first.\n{result.stderr}"
    )


def check(command: list[str], cwd: Path) -> None:
    """Run a command; on failure, stop with its output and no traceback."""
    result = subprocess.run(
        command, cwd=cwd, env=project_environment(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"error: `{' '.join(command)}` failed in {cwd}:\n{result.stdout}{result.stderr}")


def bake_and_lock(name: str, answers: dict, upgrade: bool, work_dir: Path) -> str:
    """Bake one dependency set, lock it, store its lock; say what changed."""
    output_dir = work_dir / name.removesuffix(".lock")
    # The command line, not the API, so that the hook's next-steps message stays in the pipe.
    check(
        bake_command(output_dir, *(f"{option}={value}" for option, value in answers.items())),
        cwd=TEMPLATE_DIR,
    )
    (project,) = output_dir.iterdir()
    check([uv_executable(), "lock", "--quiet", *(["--upgrade"] if upgrade else [])], cwd=project)
    stored = LOCKS / name
    before = stored.read_bytes() if stored.exists() else None
    after = (project / "uv.lock").read_bytes()
    stored.write_bytes(after)
    status = "new" if before is None else "unchanged" if before == after else "updated"
    return f"{name:<32} {len(after) / 1024:6.0f} KiB  {status}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="make locks", description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest versions allowed")
    arguments = parser.parse_args()
    started = time.monotonic()
    sets = dependency_sets()
    LOCKS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work_dir, ThreadPoolExecutor() as pool:
        reports = pool.map(
            lambda item: bake_and_lock(*item, arguments.upgrade, Path(work_dir)), sets.items()
        )
        for report in reports:
            print(report)
    for stale in sorted({path.name for path in LOCKS.iterdir()} - set(sets)):
        (LOCKS / stale).unlink()
        print(f"{stale:<32} removed: no answers bake it any more")
    seconds = time.monotonic() - started
    print(f"{len(sets)} locks in {LOCKS.relative_to(TEMPLATE_DIR)} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
