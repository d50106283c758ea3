"""Validate built-in objects against the real Kubernetes OpenAPI schemas.

Uses ``kubernetes-validate`` in strict mode, which also rejects unknown fields. Kinds the
package has no schema for (custom resources) are skipped here; the emulator validates them
against their CRD instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kubernetes_validate

# The Kubernetes minor versions the project supports. Every object the operator writes
# must be valid in each of them.
SUPPORTED_VERSIONS = ("1.30", "1.31", "1.32", "1.33")


def validate_builtin(obj: dict[str, Any], versions: Iterable[str]) -> list[str]:
    """Return one message per Kubernetes version whose schema rejects ``obj``."""
    causes: list[str] = []
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            continue
        except kubernetes_validate.ValidationError as error:
            first_line = str(error).splitlines()[0]
            path = ".".join(str(part) for part in error.path)
            causes.append(f"{path or '<root>'}: {first_line} (Kubernetes {version})")
    return causes
