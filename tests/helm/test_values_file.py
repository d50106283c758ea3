"""values.yaml: lowerCamelCase keys, each with a comment that starts with its name, and the
same keys as values.schema.json."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from chart_manifests import CHART_DIR

VALUES_LINES = (CHART_DIR / "values.yaml").read_text().splitlines()
VALUES = yaml.safe_load("\n".join(VALUES_LINES))
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9]*):")
LOWER_CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")

# Maps whose keys the chart owns; the keys inside the other maps (resources.requests, ...)
# belong to Kubernetes and need no comment of their own.
DOCUMENTED_MAPS = ("image", "serviceAccount", "rbac")


def documented_keys() -> list[tuple[int, str]]:
    """Return (line index, dotted name) of every key that needs its own comment."""
    keys = []
    parent = ""
    for index, line in enumerate(VALUES_LINES):
        match = KEY_LINE.match(line)
        if match is None:
            continue
        if not match["indent"]:
            parent = match["key"]
            keys.append((index, parent))
        elif len(match["indent"]) == 2 and parent in DOCUMENTED_MAPS:
            keys.append((index, f"{parent}.{match['key']}"))
    return keys


@pytest.mark.parametrize(
    ("index", "name"), [pytest.param(*key, id=key[1]) for key in documented_keys()]
)
def test_value_comment_starts_with_name(index: int, name: str) -> None:
    comment_start = index
    while comment_start > 0 and VALUES_LINES[comment_start - 1].lstrip().startswith("#"):
        comment_start -= 1

    assert comment_start < index, f"{name} in values.yaml has no comment above it."
    assert VALUES_LINES[comment_start].lstrip().startswith(f"# {name} ")


def test_top_level_keys_lower_camel_case() -> None:
    assert [key for key in VALUES if not LOWER_CAMEL_CASE.match(key)] == []


def test_schema_lists_every_value() -> None:
    assert set(VALUES) == set(SCHEMA["properties"]) - {"global"}


def test_schema_rejects_unknown_keys() -> None:
    assert SCHEMA["additionalProperties"] is False
