"""Apply the three patch formats of the Kubernetes API to plain JSON objects.

kmock 0.8 merges every PATCH body recursively, whatever its Content-Type, and returns 500
for a failed JSON-patch ``test``. The API server instead distinguishes:

- ``application/merge-patch+json`` (RFC 7386): ``null`` removes a key, lists are replaced.
- ``application/strategic-merge-patch+json``: like a merge patch, but lists of objects
  that have a merge key (``name`` for containers, env, ports, volumes; ``type`` for
  conditions) are merged item by item. Only that subset of the strategy is emulated.
- ``application/json-patch+json`` (RFC 6902): a failed ``test`` or a missing path is 422.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# List fields that the strategic merge patch merges by a key instead of replacing.
STRATEGIC_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "conditions": "type",
    "imagePullSecrets": "name",
}


class PatchError(Exception):
    """A patch that cannot be applied, rejected by the API server with 422."""


class UnsupportedPatchType(Exception):
    """A patch Content-Type the emulator does not implement, rejected with 415."""


def apply_patch(target: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Return a new object: ``target`` with ``patch`` applied as ``content_type`` specifies."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == JSON_PATCH:
        return _apply_json_patch(target, patch)
    if not isinstance(patch, dict):
        raise PatchError(f"A {media_type} body must be a JSON object, got {type(patch).__name__}.")
    if media_type == MERGE_PATCH:
        merged: dict[str, Any] = merge_patch(target, patch)
        return merged
    if media_type == STRATEGIC_MERGE_PATCH:
        strategic: dict[str, Any] = strategic_merge_patch(target, patch)
        return strategic
    raise UnsupportedPatchType(f"The patch type {media_type!r} is not supported by the emulator.")


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch and return the result (inputs stay unchanged)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str | None = None) -> Any:
    """Apply a strategic merge patch for the list fields in ``STRATEGIC_MERGE_KEYS``."""
    if isinstance(patch, list) and isinstance(target, list) and field in STRATEGIC_MERGE_KEYS:
        return _merge_list_by_key(target, patch, STRATEGIC_MERGE_KEYS[field])
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # Directives such as $patch and $retainKeys are not emulated.
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _merge_list_by_key(target: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            result.append(copy.deepcopy(item))
            continue
        for index, existing in enumerate(result):
            if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]:
                result[index] = strategic_merge_patch(existing, item)
                break
        else:
            result.append(copy.deepcopy(item))
    return result


def _apply_json_patch(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, list):
        raise PatchError(f"A JSON patch must be a list of operations, got {type(patch).__name__}.")
    try:
        result = jsonpatch.apply_patch(target, patch, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(f"The JSON patch test operation failed: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"The JSON patch cannot be applied: {exc}") from exc
    if not isinstance(result, dict):
        raise PatchError("The JSON patch replaced the whole object with a non-object.")
    return result
