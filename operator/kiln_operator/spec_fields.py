"""Readers of single spec fields that raise ``InvalidSpec`` with the field's path."""

from __future__ import annotations

from typing import Any

from kiln_operator.quantity import QuantityError, parse_bytes


class InvalidSpec(ValueError):
    """A spec value the operator cannot use; the message starts with the field path."""


def section(spec: dict[str, Any], key: str, path: str = "spec") -> dict[str, Any]:
    """Return the object at ``spec[key]`` ({} when absent)."""
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidSpec(f"{path}.{key}: expected an object, got {value!r}.")
    return value


def integer(values: dict[str, Any], key: str, path: str, default: int, minimum: int) -> int:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"{path}.{key}: expected an integer, got {value!r}.")
    if value < minimum:
        raise InvalidSpec(f"{path}.{key}: {value!r} is below the minimum of {minimum}.")
    return value


def byte_quantity(values: dict[str, Any], key: str, path: str) -> int:
    """Return the bytes of the quantity at ``values[key]``, which must be present."""
    try:
        return parse_bytes(values.get(key), field=f"{path}.{key}")
    except QuantityError as error:
        raise InvalidSpec(str(error)) from error
