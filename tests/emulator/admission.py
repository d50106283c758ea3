"""Admit custom resources the way the API server does for a structural CRD schema.

kmock 0.8 stores whatever it is sent. For a CRD version with an ``openAPIV3Schema``, the
API server instead applies ``default`` values and prunes unknown fields (or rejects them,
with ``fieldValidation=Strict``). It validates types, enums, bounds and patterns, and it
evaluates the ``x-kubernetes-validations`` CEL rules with ``self`` bound to the value at
that node.
This module does the same for the subset of OpenAPI that structural schemas allow.
CEL rules are evaluated with cel-python, which covers standard CEL but none of the
Kubernetes CEL libraries (``quantity()``, ``url()``, ``isSorted()`` and the like).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

_ROOT_MANAGED_BY_SERVER = {"apiVersion", "kind", "metadata"}


@dataclass
class AdmissionResult:
    """The admitted object plus the validation errors and pruned field paths."""

    obj: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)


def admit(obj: dict[str, Any], schema: dict[str, Any]) -> AdmissionResult:
    """Default, prune and validate ``obj`` against a CRD version's ``openAPIV3Schema``."""
    result = AdmissionResult(obj=copy.deepcopy(obj))
    properties = schema.get("properties", {})
    for key in list(result.obj):
        if key in _ROOT_MANAGED_BY_SERVER:
            continue
        if key not in properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
            result.unknown_fields.append(key)
            del result.obj[key]
    _apply_defaults(result.obj, schema)
    for key, subschema in properties.items():
        if key in _ROOT_MANAGED_BY_SERVER or key not in result.obj:
            continue
        result.obj[key] = _walk(result.obj[key], subschema, key, result)
    for message in _check_required(result.obj, schema, ""):
        result.errors.append(message)
    for message in _check_rules(result.obj, schema, "<root>"):
        result.errors.append(message)
    return result


def _apply_defaults(value: dict[str, Any], schema: dict[str, Any]) -> None:
    for key, subschema in schema.get("properties", {}).items():
        if key not in value and "default" in subschema:
            value[key] = copy.deepcopy(subschema["default"])


def _walk(value: Any, schema: dict[str, Any], path: str, result: AdmissionResult) -> Any:
    if value is None:
        if not schema.get("nullable"):
            result.errors.append(f"{path}: Invalid value: null: {path} in body must not be null")
        return value
    type_error = _check_type(value, schema, path)
    if type_error:
        result.errors.append(type_error)
        return value
    if isinstance(value, dict):
        value = _walk_object(value, schema, path, result)
    elif isinstance(value, list):
        value = [_walk(item, schema.get("items", {}), f"{path}[{index}]", result)
                 for index, item in enumerate(value)]
    result.errors.extend(_check_bounds(value, schema, path))
    result.errors.extend(_check_rules(value, schema, path))
    return value


def _walk_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, result: AdmissionResult
) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    if properties and not preserve:
        for key in list(value):
            if key not in properties:
                result.unknown_fields.append(f"{path}.{key}")
                del value[key]
    _apply_defaults(value, schema)
    for key in list(value):
        if key in properties:
            value[key] = _walk(value[key], properties[key], f"{path}.{key}", result)
        elif isinstance(additional, dict):
            value[key] = _walk(value[key], additional, f"{path}[{key}]", result)
    result.errors.extend(_check_required(value, schema, path))
    return value


def _check_type(value: Any, schema: dict[str, Any], path: str) -> str | None:
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        expected = "integer or string"
    else:
        expected = schema.get("type", "")
        ok = {
            "": True,
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }.get(expected, True)
    if ok:
        return None
    return f"{path}: Invalid value: {value!r}: {path} in body must be of type {expected}"


def _check_bounds(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []

    def fail(detail: str) -> None:
        errors.append(f"{path}: Invalid value: {value!r}: {path} in body {detail}")

    if "enum" in schema and value not in schema["enum"]:
        fail(f"should be one of {schema['enum']!r}")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and "minimum" in schema:
        if schema.get("exclusiveMinimum") and value <= schema["minimum"]:
            fail(f"should be greater than {schema['minimum']}")
        elif value < schema["minimum"]:
            fail(f"should be greater than or equal to {schema['minimum']}")
    if is_number and "maximum" in schema and value > schema["maximum"]:
        fail(f"should be less than or equal to {schema['maximum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            fail(f"should match '{schema['pattern']}'")
        if "minLength" in schema and len(value) < schema["minLength"]:
            fail(f"should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            fail(f"may not be longer than {schema['maxLength']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            fail(f"should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            fail(f"should have at most {schema['maxItems']} items")
    return errors


def _check_required(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    prefix = f"{path}." if path else ""
    return [
        f"{prefix}{key}: Required value"
        for key in schema.get("required", [])
        if key not in value
    ]


def _check_rules(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        program = _compile(rule["rule"])
        try:
            outcome = program.evaluate({"self": json_to_cel(value)})
        except CELEvalError as exc:
            errors.append(f"{path}: Invalid value: rule {rule['rule']!r} failed to evaluate: {exc}")
            continue
        if isinstance(outcome, CELEvalError):
            errors.append(f"{path}: Invalid value: rule {rule['rule']!r} failed to evaluate: "
                          f"{outcome}")
        elif not bool(outcome):
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            errors.append(f"{path}: Invalid value: \"object\": {message}")
    return errors


@functools.cache
def _compile(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))
