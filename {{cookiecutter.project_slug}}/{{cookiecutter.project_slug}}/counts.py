"""Counts of what a job did, as a frozen dataclass of numbers: a job that works a part at a time
adds up its parts' counts with +, field by field."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Self


@dataclass(frozen=True)
class Counts:
    def __add__(self, other: Self) -> Self:
        names = [field.name for field in fields(self)]
        return replace(self, **{name: getattr(self, name) + getattr(other, name) for name in names})
