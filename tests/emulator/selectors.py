"""Match objects against the ``labelSelector`` and ``fieldSelector`` query parameters.

kmock 0.8 ignores both, so a filtered list or watch returned every object of the resource.
The label grammar follows the API server: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
``k notin (a,b)``, ``k`` (exists) and ``!k`` (does not exist), joined by commas.
Field selectors support ``=``, ``==`` and ``!=`` on any dotted path such as
``metadata.name`` or ``involvedObject.uid``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """A selector string that cannot be parsed, rejected by the API server with 400."""


def _split_requirements(selector: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def parse_label_selector(selector: str) -> Predicate:
    """Return a predicate over a label mapping for a label selector string."""
    checks: list[Predicate] = []
    for requirement in _split_requirements(selector):
        checks.append(_parse_label_requirement(requirement))
    return lambda labels: all(check(labels) for check in checks)


def _parse_label_requirement(requirement: str) -> Predicate:
    set_match = _SET_RE.match(requirement)
    if set_match:
        key, operator, values_text = set_match.groups()
        values = {value.strip() for value in values_text.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if "!=" in requirement:
        key, value = (part.strip() for part in requirement.split("!=", 1))
        return lambda labels: labels.get(key) != value
    if "=" in requirement:
        key, value = (part.strip() for part in requirement.replace("==", "=").split("=", 1))
        return lambda labels: key in labels and labels[key] == value
    if requirement.startswith("!"):
        key = requirement[1:].strip()
        return lambda labels: key not in labels
    if re.fullmatch(r"[A-Za-z0-9./_-]+", requirement):
        return lambda labels: requirement in labels
    raise SelectorError(f"Invalid label selector requirement {requirement!r}.")


def parse_field_selector(selector: str) -> Predicate:
    """Return a predicate over a whole object for a field selector string."""
    checks: list[Predicate] = []
    for requirement in _split_requirements(selector):
        if "!=" in requirement:
            path, value = (part.strip() for part in requirement.split("!=", 1))
            checks.append(_field_check(path, value, negate=True))
        elif "=" in requirement:
            path, value = (part.strip() for part in requirement.replace("==", "=").split("=", 1))
            checks.append(_field_check(path, value, negate=False))
        else:
            raise SelectorError(f"Invalid field selector requirement {requirement!r}.")
    return lambda obj: all(check(obj) for check in checks)


def _field_check(path: str, expected: str, *, negate: bool) -> Predicate:
    keys = path.split(".")

    def check(obj: Mapping[str, Any]) -> bool:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        actual = "" if value is None else str(value)
        return (actual != expected) if negate else (actual == expected)

    return check
