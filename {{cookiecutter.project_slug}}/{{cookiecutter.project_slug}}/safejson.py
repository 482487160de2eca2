"""JSON from outside the project: parsed within limits, and checked before it is stored.

Python's json module recurses once per level of nesting, so a body of 100,000 nested arrays
raises RecursionError, a 500, wherever it is parsed or written again. And not every value it
parses can be stored and written back: PostgreSQL's jsonb refuses NUL characters, lone
surrogates and infinite numbers, and the API's JSON is written by orjson, which refuses
integers beyond 64 bits. A device whose metadata held one would break every page listing it.
Everything that parses JSON a client sent goes through loads(); every JSON model field checks
its value with storable() (the JSONField below, for the admin's forms and the API alike).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

# Deeper than any device's metadata needs, and far below the nesting that orjson writes (254
# levels) or that Python's recursion limit allows.
MAX_DEPTH = 32
# What orjson writes: signed and unsigned 64-bit integers.
SMALLEST_INTEGER = -(2**63)
LARGEST_INTEGER = 2**64 - 1


class UnsafeJSON(ValueError):
    """The text is not JSON, or not JSON this project parses; the message says why."""


def refuse_constant(name: str) -> float:
    # json.loads reads NaN and Infinity, which are not JSON and which no database stores.
    raise UnsafeJSON(f"{name} is not a JSON number (send null or a string)")


def loads(text: str | bytes) -> Any:
    """Parse untrusted JSON, refusing what is not strict JSON or is nested beyond MAX_DEPTH."""
    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise UnsafeJSON(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnsafeJSON:
        raise
    except ValueError as error:  # not JSON, not UTF-8, or an integer of over 4,300 digits
        raise UnsafeJSON(str(error)) from None
    if nested_deeper(value, MAX_DEPTH):
        raise UnsafeJSON(f"nested deeper than {MAX_DEPTH} levels")
    return value


def nested_deeper(value: Any, levels: int) -> bool:
    """Whether containers in `value` nest more than `levels` deep (the value itself is the
    first level). One pass per level over the containers alone: every push and request body
    is checked, and most of what they hold are numbers and strings."""
    containers = [value] if isinstance(value, dict | list) else []
    for _ in range(levels):
        containers = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
        if not containers:
            return False
    return True


def walk(value: Any) -> Iterator[tuple[Any, tuple | None, int]]:
    """Each value inside `value`, with its trail of keys and its depth, without recursion.

    A trail is (parent's trail, key), or None at the top; where() formats it. Containers
    nested too deep are given but not entered.
    """
    stack: list[tuple[Any, tuple | None, int]] = [(value, None, 1)]
    while stack:
        item, trail, depth = stack.pop()
        yield item, trail, depth
        if too_deep(item, depth):
            continue
        if isinstance(item, dict):
            stack.extend((child, (trail, key), depth + 1) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (trail, index), depth + 1) for index, child in enumerate(item))


def too_deep(item: Any, depth: int) -> bool:
    return depth > MAX_DEPTH and isinstance(item, dict | list)


def where(trail: tuple | None) -> str:
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(f"[{key}]" if isinstance(key, int) else f"[{json.dumps(key)}]")
    return "".join(reversed(keys))


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a text with a NUL character"
    if any("\ud800" <= character <= "\udfff" for character in text):
        return "a text with a lone surrogate"
    return None


def value_problem(item: Any) -> str | None:
    """What, in one value (not looking inside it), cannot be stored and written back."""
    if item is None or isinstance(item, bool | list):
        return None
    if isinstance(item, int):
        fits = SMALLEST_INTEGER <= item <= LARGEST_INTEGER
        return None if fits else "an integer beyond 64 bits (send it as a string)"
    if isinstance(item, float):
        return None if math.isfinite(item) else "a number that is not finite"
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, dict):
        for key in item:
            if not isinstance(key, str):
                return "a key that is not a text"
            if problem := text_problem(key):
                return problem
        return None
    return f"a {type(item).__name__}, which is not a JSON value"


def storable(value: Any) -> None:
    """Validator: refuse a value that the database or the API could not store or write back."""
    for item, trail, depth in walk(value):
        if too_deep(item, depth):
            raise ValidationError(f"Nested deeper than {MAX_DEPTH} levels.", code="too_deep")
        if problem := value_problem(item):
            place = f" at {where(trail)}" if trail else ""
            raise ValidationError(f"Cannot store {problem}{place}.", code="unstorable")


class JSONFormField(forms.JSONField):
    """Django's JSON form field, parsing with loads(): bad input is a form error, not a 500."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        try:
            converted = loads(value)
        except UnsafeJSON as error:
            raise ValidationError(f"Enter valid JSON: {error}.", code="invalid") from None
        return forms.fields.JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return loads(data)
        except UnsafeJSON:
            # Shown back as it was typed, for the person to correct.
            return forms.fields.InvalidJSONInput(data)


class JSONField(models.JSONField):
    """A JSON model field whose values can be stored and written back as they came."""

    default_validators = [storable]

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        return super().formfield(**{"form_class": JSONFormField, **kwargs})

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        # The column is Django's JSONField; validation and forms are not the database's
        # business, so migrations keep naming Django's field and none follows from this one.
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
