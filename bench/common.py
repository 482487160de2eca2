"""What every part of `make bench` uses: the environment a baked project runs in, and how its
commands are run and reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LEAKY = ("VIRTUAL_ENV", "DJANGO_", "DATABASE_URL", "REDIS_URL", "SENTRY_", "SIMULATOR_")


def say(message: str) -> None:
    print(message, flush=True)


def environment(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY)}
    return base | {"UV_PYTHON_DOWNLOADS": "never", "BENCH_SLUG": "iot_monitor"} | variables


def run(command, cwd: Path, **variables: str) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment(**variables),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"`{' '.join(map(str, command))}` failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def row(work, this, reference=None, reference_is="-", target="-", met=None) -> dict:
    ratio = this / reference if reference else None
    return {"work": work, "this": this, "reference": reference, "reference_is": reference_is,
            "ratio": ratio, "target": target, "met": met}  # fmt: skip
