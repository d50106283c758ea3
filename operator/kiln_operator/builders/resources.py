"""The server container's resource requests and limits, sized to the weights and caches.

A local model needs memory for its weights plus the runtime, tokenizer and activations;
a gateway needs little. The adapter cache comes on top of either, at its byte limit,
because the server fills it up to that limit under load. spec.resources overrides the
computed values key by key.
"""

from __future__ import annotations

import math
from typing import Any

from kiln_operator.quantity import format_bytes
from kiln_operator.spec import ModelServiceSpec

MIB = 2**20

# The factor and the overhead are estimates.
MEMORY_FACTOR = 1.25
MEMORY_OVERHEAD = 1024 * MIB
GATEWAY_CPU = "100m"
GATEWAY_MEMORY_REQUEST = 128 * MIB
GATEWAY_MEMORY_LIMIT = 512 * MIB


def _mebibytes(size: int) -> str:
    """Return ``size`` rounded up to whole MiB, as a quantity."""
    return format_bytes(MIB * math.ceil(size / MIB))


def adapter_cache_bytes(spec: ModelServiceSpec) -> int:
    """Return the memory the adapter cache may hold, 0 without adapters.

    NOTE: on a GPU the cached tensors live in device memory, and an adapter's file is in
    host memory only while it loads, so this over-estimates the host memory there.
    """
    return 0 if spec.adapters is None else spec.adapters.cache_bytes


def default_resources(spec: ModelServiceSpec) -> dict[str, dict[str, str]]:
    """Return requests and limits sized to the weights (or small ones for a gateway)."""
    cache = adapter_cache_bytes(spec)
    if spec.gateway:
        return {
            "requests": {"cpu": GATEWAY_CPU,
                         "memory": _mebibytes(GATEWAY_MEMORY_REQUEST + cache)},
            "limits": {"memory": _mebibytes(GATEWAY_MEMORY_LIMIT + cache)},
        }
    memory_bytes = math.ceil(spec.weight_bytes * MEMORY_FACTOR) + MEMORY_OVERHEAD + cache
    memory = _mebibytes(memory_bytes)
    resources = {"requests": {"cpu": "1", "memory": memory}, "limits": {"memory": memory}}
    if spec.tuning_inputs.device == "gpu":
        count = str(spec.tuning_inputs.gpu_count)
        resources["requests"][spec.gpu_resource] = count
        resources["limits"][spec.gpu_resource] = count
    return resources


def resources(spec: ModelServiceSpec) -> dict[str, dict[str, Any]]:
    merged = default_resources(spec)
    for key in ("requests", "limits"):
        merged[key].update(spec.resources.get(key) or {})
    return merged
