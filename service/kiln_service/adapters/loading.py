"""Checking and reading one adapter directory; both steps block, so they run in threads.

Loading is two steps so the cache can make room in between. `inspect_adapter` reads only
the manifest and the safetensors header: it finds a missing, mismatched or malformed
adapter without reading its data, and returns the bytes the tensors will take.
`read_adapter` then reads the file once into memory, checks its sha256 against the manifest
and builds the tensors from those same bytes, so the tensors are exactly the bytes that
were verified even if the file changes on disk afterwards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kiln_service.adapters.errors import AdapterInvalid, AdapterNotFound
from kiln_service.adapters.head import LinearHead
from kiln_service.adapters.manifest import (
    REFIT,
    AdapterManifest,
    check_name,
    read_adapter_manifest,
)
from kiln_service.weights.errors import WeightsError
from kiln_service.weights.safetensors_file import SafetensorsLayout, read_layout

Device = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class AdapterPlan:
    """A checked adapter that is ready to be read: its place, manifest and tensor bytes."""

    name: str
    directory: Path
    manifest: AdapterManifest
    nbytes: int


def inspect_adapter(
    adapters_dir: Path, name: str, *, base_model: str, dimensions: int
) -> AdapterPlan:
    """Check an adapter's name, manifest and header against the served base model."""
    check_name(name)
    directory = adapters_dir / name
    if not directory.is_dir():
        raise AdapterNotFound(name)

    manifest = read_adapter_manifest(directory, name)
    if not same_model(manifest.base_model, base_model):
        raise AdapterInvalid(
            name,
            f"it was fit on base model {manifest.base_model!r}, but this server serves "
            f"{base_model!r}",
            f"Fit it again on {base_model!r} with `kiln adapter fit`.",
        )
    if manifest.dimensions != dimensions:
        raise AdapterInvalid(
            name,
            f"it expects {manifest.dimensions}-dimensional embeddings, but the base model "
            f"returns {dimensions}",
            f"Fit it again on {base_model!r} with `kiln adapter fit`.",
        )

    entry = manifest.head_file
    try:
        layout = read_layout(directory / entry.path, expected_size=entry.size)
    except WeightsError as error:
        raise AdapterInvalid(name, f"{entry.path}: {error.problem}", REFIT) from error
    except OSError as error:
        raise AdapterInvalid(
            name, f"{entry.path} cannot be read ({error.strerror})", REFIT
        ) from error
    _check_layout(name, manifest, layout)
    return AdapterPlan(name, directory, manifest, layout.data_bytes)


def expected_tensors(manifest: AdapterManifest) -> dict[str, tuple[str, list[int]]]:
    """Map each tensor name of the head to its dtype and shape."""
    labels = len(manifest.labels)
    return {"weight": ("F32", [labels, manifest.dimensions]), "bias": ("F32", [labels])}


def same_model(fit_on: str, served: str) -> bool:
    """Compare model names the way `/v1/embeddings` does: last path segment, any case.

    A gateway's backend may report "sentence-transformers/all-MiniLM-L6-v2" for the model
    that `kiln bake` names "all-MiniLM-L6-v2".
    """
    return fit_on.lower().rsplit("/", 1)[-1] == served.lower().rsplit("/", 1)[-1]


def _check_tensors(
    name: str, manifest: AdapterManifest, found: dict[str, tuple[str, list[int]]]
) -> None:
    wanted = expected_tensors(manifest)
    if found != wanted:
        raise AdapterInvalid(
            name,
            f"{manifest.head_file.path} holds tensors {found}, but a "
            f"{manifest.kind} with {len(manifest.labels)} labels needs {wanted}",
            REFIT,
        )


def _check_layout(name: str, manifest: AdapterManifest, layout: SafetensorsLayout) -> None:
    _check_tensors(
        name,
        manifest,
        {key: (info.dtype, list(info.shape)) for key, info in layout.tensors.items()},
    )
    if layout.data_bytes != manifest.weight_bytes:
        raise AdapterInvalid(
            name,
            f"the manifest says {manifest.weight_bytes} weight bytes, but the tensors take "
            f"{layout.data_bytes}",
            REFIT,
        )


def read_adapter(plan: AdapterPlan, device: Device) -> LinearHead:
    """Read, verify and build the head of an inspected adapter."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    entry = plan.manifest.head_file
    path = plan.directory / entry.path
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AdapterInvalid(
            plan.name, f"{entry.path} cannot be read ({error.strerror})", REFIT
        ) from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise AdapterInvalid(
            plan.name,
            f"the sha256 checksum of {entry.path} differs from the manifest: expected "
            f"{entry.sha256}, found {digest}",
            "The file changed after the adapter was written. " + REFIT,
        )

    try:
        tensors = load(data)
    except SafetensorError as error:
        raise AdapterInvalid(plan.name, f"{entry.path} is not valid ({error})", REFIT) from error
    del data
    # The header was checked before the read, but the file may have been replaced since.
    _check_tensors(
        plan.name,
        plan.manifest,
        {key: ("F32" if t.dtype == torch.float32 else str(t.dtype), list(t.shape))
         for key, t in tensors.items()},
    )  # fmt: skip
    if device != "cpu":
        tensors = {key: value.to(device) for key, value in tensors.items()}

    return LinearHead(
        labels=plan.manifest.labels,
        weight=tensors["weight"],
        bias=tensors["bias"],
        forward_delay=plan.manifest.forward_delay_seconds,
    )
