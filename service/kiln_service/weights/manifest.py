"""The checksum manifest written by `kiln bake` next to a model's files.

The manifest pins every file of a model directory by size and sha256. The server verifies the
directory against it at start, and the operator reads the model's size from it (through the
bake output and the image labels), so it is the single statement of what a model is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiln_service.weights.errors import WeightsError

MANIFEST_NAME = "kiln-manifest.json"
FORMAT_VERSION = 1
WEIGHT_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
HASH_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    name: str
    architecture: str
    files: list[FileEntry]
    weight_bytes: int
    tensor_count: int
    dtypes: list[str]
    parameter_count: int
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weight_files(self) -> list[FileEntry]:
        return [entry for entry in self.files if entry.path.endswith(WEIGHT_SUFFIX)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> Manifest:
    """Read and check the manifest of a baked model directory."""
    if not model_dir.is_dir():
        raise WeightsError(
            model_dir,
            "the model directory does not exist",
            "Set --model-dir (KILN_MODEL_DIR) to a directory written by `kiln bake`.",
        )

    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise WeightsError(
            path,
            "the manifest is missing, so the weights cannot be verified",
            f"Run `kiln bake SOURCE_DIR {model_dir}` to write the model directory and manifest.",
        )

    try:
        raw = json.loads(path.read_text())
        version = raw["format_version"]
        if version != FORMAT_VERSION:
            raise WeightsError(
                path,
                f"manifest format version {version!r} is not supported "
                f"(this kiln reads version {FORMAT_VERSION})",
                "Bake the model again with this version of kiln.",
            )
        files = [FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in raw["files"]]
        return Manifest(
            name=str(raw["name"]),
            architecture=str(raw["architecture"]),
            files=files,
            weight_bytes=int(raw["weight_bytes"]),
            tensor_count=int(raw["tensor_count"]),
            dtypes=[str(d) for d in raw["dtypes"]],
            parameter_count=int(raw["parameter_count"]),
            format_version=version,
            extra=dict(raw.get("extra", {})),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise WeightsError(
            path,
            f"the manifest is not valid ({type(error).__name__}: {error})",
            "Bake the model again with `kiln bake`.",
        ) from error
