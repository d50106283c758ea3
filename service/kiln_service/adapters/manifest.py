"""The adapter format: one directory per adapter, a safetensors head and a checksum manifest.

    ADAPTERS_DIR/sentiment/kiln-adapter.json
    ADAPTERS_DIR/sentiment/head.safetensors

The manifest pins the weights file by size and sha256, like a baked model's manifest, and
states what the adapter computes (its kind and labels) and which base model and embedding
size it was fit on. The server checks all of that before it reads the weights, so an adapter
fit on another model is rejected with a reason instead of returning wrong scores.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln_service.adapters.errors import AdapterInvalid
from kiln_service.weights.manifest import FileEntry, sha256_of

if TYPE_CHECKING:
    import torch

ADAPTER_MANIFEST_NAME = "kiln-adapter.json"
HEAD_FILE = "head.safetensors"
FORMAT_VERSION = 1
LINEAR_CLASSIFIER = "linear-classifier"
KINDS = (LINEAR_CLASSIFIER,)
# Names become directory names, so they exclude "/", ".." and a leading dot.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
REFIT = "Fit the adapter again with `kiln adapter fit`, or copy an intact one."


@dataclass(frozen=True)
class AdapterManifest:
    name: str
    kind: str
    base_model: str
    dimensions: int
    labels: list[str]
    files: list[FileEntry]
    weight_bytes: int
    # Seconds each forward pass of the head sleeps, for load tests and drills (like the
    # KilnSynthetic model's `forward_delay_seconds`); 0 for every fitted adapter.
    forward_delay_seconds: float = 0.0
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def head_file(self) -> FileEntry:
        return next(entry for entry in self.files if entry.path == HEAD_FILE)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def invalid_name_reason(name: str) -> str | None:
    if NAME_PATTERN.fullmatch(name) and ".." not in name:
        return None
    return (
        f"the adapter name {name!r} is not valid: use 1 to 128 letters, digits, '.', '_' or "
        "'-', starting with a letter or digit"
    )


def check_name(name: str) -> None:
    """Raise AdapterInvalid unless `name` is safe to use as a directory name."""
    reason = invalid_name_reason(name)
    if reason is not None:
        raise AdapterInvalid(name, reason, "Send the name of a directory in KILN_ADAPTERS_DIR.")


def read_adapter_manifest(adapter_dir: Path, name: str) -> AdapterManifest:
    """Read and check the manifest of one adapter directory; raise AdapterInvalid on faults."""
    path = adapter_dir / ADAPTER_MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterInvalid(name, f"its directory has no {ADAPTER_MANIFEST_NAME}", REFIT) from None
    except OSError as error:
        # strerror leaves out the server's path, which the message must not show to clients.
        raise AdapterInvalid(
            name, f"{ADAPTER_MANIFEST_NAME} cannot be read ({error.strerror})", REFIT
        ) from error
    except (UnicodeDecodeError, ValueError) as error:
        raise AdapterInvalid(
            name, f"{ADAPTER_MANIFEST_NAME} cannot be read ({error})", REFIT
        ) from error

    try:
        manifest = _parse(raw)
    except KeyError as error:
        raise AdapterInvalid(
            name, f"{ADAPTER_MANIFEST_NAME} is missing the key {error.args[0]!r}", REFIT
        ) from error
    except (TypeError, ValueError) as error:
        raise AdapterInvalid(
            name, f"{ADAPTER_MANIFEST_NAME} is not valid ({type(error).__name__}: {error})", REFIT
        ) from error
    _check(manifest, name)
    return manifest


def _parse(raw: Any) -> AdapterManifest:
    if not isinstance(raw, dict):
        raise TypeError("the manifest is not a JSON object")
    version = raw["format_version"]
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version!r} is not supported (expected {FORMAT_VERSION})")
    labels = raw["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise TypeError("'labels' must be a list of strings")
    training = raw.get("training", {})
    if not isinstance(training, dict):
        raise TypeError("'training' must be an object")
    return AdapterManifest(
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        base_model=str(raw["base_model"]),
        dimensions=int(raw["dimensions"]),
        labels=list(labels),
        files=[FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in raw["files"]],
        weight_bytes=int(raw["weight_bytes"]),
        forward_delay_seconds=float(raw.get("forward_delay_seconds", 0.0)),
        training=training,
        format_version=version,
    )


def _check(manifest: AdapterManifest, name: str) -> None:
    if manifest.name != name:
        raise AdapterInvalid(
            name,
            f"its manifest names it {manifest.name!r}, not its directory name {name!r}",
            "Rename the directory or fit the adapter again under that name.",
        )
    if manifest.kind not in KINDS:
        raise AdapterInvalid(
            name,
            f"kind {manifest.kind!r} is not supported (this kiln serves {', '.join(KINDS)})",
            REFIT,
        )
    if len(manifest.labels) < 2 or len(set(manifest.labels)) != len(manifest.labels):
        raise AdapterInvalid(
            name, f"the labels {manifest.labels!r} are not two or more distinct names", REFIT
        )
    if manifest.dimensions < 1 or manifest.forward_delay_seconds < 0:
        raise AdapterInvalid(name, "the manifest has a negative size or delay", REFIT)
    if [entry.path for entry in manifest.files] != [HEAD_FILE]:
        raise AdapterInvalid(name, f"the manifest must list exactly one file, {HEAD_FILE!r}", REFIT)


def write_adapter(
    output: Path,
    *,
    base_model: str,
    labels: list[str],
    weight: torch.Tensor,
    bias: torch.Tensor,
    training: dict[str, Any] | None = None,
    forward_delay_seconds: float = 0.0,
) -> AdapterManifest:
    """Write a linear classification head and its manifest into the directory `output`.

    The directory's name is the adapter's name. The files go to a temporary directory that
    is renamed into place, so a directory with a manifest is always complete. An existing
    `output` is replaced.
    """
    from safetensors.torch import save_file

    name = output.name
    reason = invalid_name_reason(name)
    if reason is not None:
        raise ValueError(f"{reason[0].upper()}{reason[1:]}.")
    if (
        weight.ndim != 2
        or tuple(bias.shape) != (weight.shape[0],)
        or weight.shape[0] != len(labels)
    ):
        raise ValueError(
            f"The head's shapes do not match {len(labels)} labels: weight "
            f"{list(weight.shape)}, bias {list(bias.shape)}; expected [labels, dimensions] "
            "and [labels]."
        )

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        tensors = {
            "weight": weight.detach().float().contiguous().cpu(),
            "bias": bias.detach().float().contiguous().cpu(),
        }
        save_file(tensors, str(staging / HEAD_FILE))
        head = staging / HEAD_FILE
        manifest = AdapterManifest(
            name=name,
            kind=LINEAR_CLASSIFIER,
            base_model=base_model,
            dimensions=int(weight.shape[1]),
            labels=list(labels),
            files=[FileEntry(HEAD_FILE, head.stat().st_size, sha256_of(head))],
            weight_bytes=sum(t.numel() * t.element_size() for t in tensors.values()),
            forward_delay_seconds=forward_delay_seconds,
            training=dict(training or {}),
        )
        _check(manifest, name)
        (staging / ADAPTER_MANIFEST_NAME).write_text(manifest.to_json())
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest
