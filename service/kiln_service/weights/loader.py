"""Verify a baked model directory against its manifest and map its weights into memory.

Loading is two passes over the files. The first reads every file once, sequentially, in
large chunks: it hashes the bytes when full verification is on, reports progress, checks
for cancellation between chunks, and leaves the file in the page cache. The second maps
each safetensors file with `mmap` (safetensors' default backend), so tensors share the
page cache's pages instead of copying them: peak memory stays near the weight size, and
several workers on one node share one copy of the weights.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kiln_service.weights.errors import WeightsError
from kiln_service.weights.manifest import PICKLE_SUFFIXES, WEIGHT_SUFFIX, Manifest
from kiln_service.weights.safetensors_file import SafetensorsLayout, read_layout

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Verification = Literal["full", "size"]
READ_CHUNK_BYTES = 16 * 1024 * 1024
PROGRESS_LOG_SECONDS = 5.0


class LoadCancelled(Exception):
    """The load was stopped on request, for example by SIGTERM while loading."""


@dataclass
class LoadProgress:
    """Bytes read so far; written by the loading thread, read by the probes."""

    bytes_total: int = 0
    bytes_loaded: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)

    def as_dict(self) -> dict[str, int]:
        return {"bytes_loaded": self.bytes_loaded, "bytes_total": self.bytes_total}


def check_directory(model_dir: Path, manifest: Manifest) -> dict[str, SafetensorsLayout]:
    """Check the files' presence, sizes and safetensors headers without reading the data."""
    for path in sorted(model_dir.rglob("*")):
        if path.suffix in PICKLE_SUFFIXES:
            raise WeightsError(
                path,
                "pickle checkpoints are not loaded because unpickling can run arbitrary code",
                f"Convert it to safetensors with `kiln bake {model_dir} NEW_DIR`, which reads "
                "it with torch.load(weights_only=True).",
            )

    layouts: dict[str, SafetensorsLayout] = {}
    for entry in manifest.files:
        path = model_dir / entry.path
        if entry.path.endswith(WEIGHT_SUFFIX):
            layouts[entry.path] = read_layout(path, expected_size=entry.size)
            continue
        if not path.is_file():
            raise WeightsError(path, "a file listed in the manifest is missing", _rebake(model_dir))
        actual = path.stat().st_size
        if actual != entry.size:
            raise WeightsError(
                path,
                f"the size differs from the manifest: expected {entry.size} bytes, "
                f"found {actual} bytes",
                _rebake(model_dir),
            )

    if not layouts:
        raise WeightsError(
            model_dir, "the manifest lists no .safetensors weights", _rebake(model_dir)
        )
    return layouts


def read_files(
    model_dir: Path,
    manifest: Manifest,
    *,
    verification: Verification,
    progress: LoadProgress,
) -> None:
    """Read every file once: hash it when `verification` is "full" and warm the page cache."""
    progress.bytes_total = sum(entry.size for entry in manifest.files)
    buffer = bytearray(READ_CHUNK_BYTES)
    view = memoryview(buffer)
    last_log = time.monotonic()
    started = last_log

    for entry in manifest.files:
        path = model_dir / entry.path
        digest = hashlib.sha256() if verification == "full" else None
        with path.open("rb", buffering=0) as stream:
            while count := stream.readinto(buffer):
                if progress.cancel.is_set():
                    raise LoadCancelled(f"load cancelled after {progress.bytes_loaded} bytes")
                if digest is not None:
                    digest.update(view[:count])
                progress.bytes_loaded += count

                now = time.monotonic()
                if now - last_log >= PROGRESS_LOG_SECONDS:
                    last_log = now
                    _log_progress(progress, now - started)

        if digest is not None and digest.hexdigest() != entry.sha256:
            raise WeightsError(
                path,
                f"the sha256 checksum differs from the manifest: expected {entry.sha256}, "
                f"found {digest.hexdigest()}",
                "The file was changed after baking; bake the model again from a trusted source.",
            )


def map_tensors(model_dir: Path, layouts: dict[str, SafetensorsLayout]) -> dict[str, torch.Tensor]:
    """Map every tensor of the checked weight files into memory, copying nothing."""
    from safetensors import safe_open

    tensors: dict[str, torch.Tensor] = {}
    for relative_path in layouts:
        with safe_open(model_dir / relative_path, framework="pt", device="cpu") as weights:
            for name in weights.keys():  # noqa: SIM118 - safe_open is not a mapping
                if name in tensors:
                    raise WeightsError(
                        model_dir / relative_path,
                        f"tensor {name!r} also appears in another weights file",
                        _rebake(model_dir),
                    )
                tensors[name] = weights.get_tensor(name)
    return tensors


def _log_progress(progress: LoadProgress, elapsed: float) -> None:
    rate = progress.bytes_loaded / elapsed / 1e6 if elapsed > 0 else 0.0
    logger.info(
        "load progress: %d of %d bytes (%.0f%%) in %.1f s at %.0f MB/s",
        progress.bytes_loaded,
        progress.bytes_total,
        100 * progress.bytes_loaded / max(progress.bytes_total, 1),
        elapsed,
        rate,
    )


def _rebake(model_dir: Path) -> str:
    return f"Bake the model directory {str(model_dir)!r} again with `kiln bake`."
