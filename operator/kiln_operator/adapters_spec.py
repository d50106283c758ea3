"""The ``spec.adapters`` section: a directory of adapters that ``/v1/classify`` serves.

The directory is either part of the image (``path`` alone) or a PersistentVolumeClaim that
the pod mounts read-only at ``path``. The server reads it as ``KILN_ADAPTERS_DIR`` and keeps
the recently used adapters in an LRU cache bounded by ``cacheBytes`` and ``cacheCount``.
The operator always sets both limits, the server's defaults included, so that the memory it
requests for the pod and the limit the server enforces come from the same number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kiln_operator.container_paths import DATA_DIR, MODEL_DIR, TMP_DIR, VENV_DIR
from kiln_operator.spec_fields import InvalidSpec, byte_quantity, integer, section

# The server's defaults for KILN_ADAPTER_CACHE_BYTES and KILN_ADAPTER_CACHE_COUNT.
DEFAULT_CACHE_BYTES = 256 * 2**20
DEFAULT_CACHE_COUNT = 64

# The pod mounts its own volumes here, which would hide adapters baked into the image.
POD_MOUNTS = (TMP_DIR, DATA_DIR)
# A claim mounted at, above or below one of these would hide what the server needs to run:
# the baked model, the Python environment and the system directories.
IMAGE_DIRECTORIES = (*POD_MOUNTS, MODEL_DIR, VENV_DIR, "/usr", "/etc", "/bin", "/lib", "/dev",
                     "/proc", "/sys")
# Absolute, normalised, no segment that starts with a dot (so no . or ..).
PATH_PATTERN = re.compile(r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$")


@dataclass(frozen=True)
class AdaptersSpec:
    path: str
    claim_name: str | None
    cache_bytes: int
    cache_count: int


def _overlaps(path: str, directory: str, *, ancestors: bool) -> bool:
    """Whether ``path`` is ``directory``, below it, or (with ``ancestors``) above it."""
    if path == directory or path.startswith(directory + "/"):
        return True
    return ancestors and directory.startswith(path + "/")


def _check_path(path: Any, claim_name: str | None) -> str:
    if not isinstance(path, str) or not PATH_PATTERN.match(path):
        raise InvalidSpec(
            f"spec.adapters.path: {path!r} is not an absolute, normalised directory path such "
            "as /opt/kiln/adapters.")
    for directory in POD_MOUNTS:
        if _overlaps(path, directory, ancestors=False):
            raise InvalidSpec(
                f"spec.adapters.path: {path!r} is inside {directory}, where the pod mounts a "
                "volume of its own; choose another directory, such as /opt/kiln/adapters.")
    if claim_name is None:
        return path
    for directory in IMAGE_DIRECTORIES:
        if _overlaps(path, directory, ancestors=True):
            raise InvalidSpec(
                f"spec.adapters.path: mounting the claim at {path!r} would hide {directory}, "
                "which the server needs; choose another directory, such as /opt/kiln/adapters.")
    return path


def parse_adapters(spec: dict[str, Any]) -> AdaptersSpec | None:
    """Return the adapter settings, or None when ``spec.adapters`` is absent."""
    if spec.get("adapters") is None:
        return None
    adapters = section(spec, "adapters")
    claim = section(adapters, "persistentVolumeClaim", "spec.adapters")
    claim_name = claim.get("claimName")
    if "persistentVolumeClaim" in adapters and (not isinstance(claim_name, str) or not claim_name):
        raise InvalidSpec(
            f"spec.adapters.persistentVolumeClaim.claimName: expected the name of a "
            f"PersistentVolumeClaim in the ModelService's namespace, got {claim_name!r}.")
    path = _check_path(adapters.get("path"), claim_name)
    cache_bytes = DEFAULT_CACHE_BYTES
    if adapters.get("cacheBytes") is not None:
        cache_bytes = byte_quantity(adapters, "cacheBytes", "spec.adapters")
    return AdaptersSpec(
        path=path,
        claim_name=claim_name,
        cache_bytes=cache_bytes,
        cache_count=integer(adapters, "cacheCount", "spec.adapters", DEFAULT_CACHE_COUNT, 1),
    )
