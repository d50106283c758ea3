"""`kiln bake`: turn a model directory or checkpoint into a verified, baked model directory.

Baking copies the model's files, converts pickle checkpoints to safetensors, checks that
the weights match the config, and writes the checksum manifest last, into a temporary
directory that is renamed into place: a directory with a manifest is always complete.
Pickle files are read with `torch.load(weights_only=True)`, which unpickles tensors and
plain containers only and rejects any other object, so a checkpoint cannot run code here.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kiln_service.models.base import read_config
from kiln_service.weights.errors import WeightsError
from kiln_service.weights.manifest import (
    MANIFEST_NAME,
    PICKLE_SUFFIXES,
    WEIGHT_SUFFIX,
    FileEntry,
    Manifest,
    sha256_of,
)
from kiln_service.weights.safetensors_file import read_layout

logger = logging.getLogger(__name__)

SKIPPED_NAMES = {".gitattributes", ".git", MANIFEST_NAME}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


def bake(source: Path, output: Path, *, name: str | None = None, force: bool = False) -> Manifest:
    """Bake `source` (a directory, or a single checkpoint file) into `output`."""
    name = check_name(name or output.name)
    if not source.exists():
        raise WeightsError(source, "the source does not exist", "Pass a model directory or file.")
    if output.exists() and not output.is_dir():
        raise WeightsError(output, "the output exists and is not a directory", "Choose another.")
    if output.exists() and any(output.iterdir()) and not force:
        raise WeightsError(
            output, "the output directory is not empty", "Choose a new directory or pass --force."
        )

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except OSError as error:
        raise WeightsError(
            output, f"the output cannot be created ({error.strerror})", "Choose another path."
        ) from error
    try:
        _copy_source(source, staging)
        manifest = write_manifest(staging, name)
        _make_readable(staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except WeightsError as error:
        # Name the source file, not the staging copy that is about to be deleted.
        raise _in_source(error, staging, source) from error
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def check_name(name: str) -> str:
    """Return `name` if it is a usable model name, else raise WeightsError."""
    if not NAME_PATTERN.fullmatch(name):
        raise WeightsError(
            "--name",
            f"the model name {name[:80]!r} is not valid",
            "Use up to 128 letters, digits, '.', '_', '-' or '/', starting with a letter or digit.",
        )
    return name


def _in_source(error: WeightsError, staging: Path, source: Path) -> WeightsError:
    if not error.path.startswith(str(staging)):
        return error
    relative = Path(error.path).relative_to(staging)
    root = source if source.is_dir() else source.parent
    return WeightsError(root / relative, error.problem, error.fix)


def _source_files(source: Path) -> list[Path]:
    """List the files to bake. Symbolic links to files are followed, because the Hugging
    Face cache links every snapshot file to a blob; any other link is an error."""
    if source.is_file():
        return [source]
    files = []
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if not target.is_file():
                raise WeightsError(
                    path,
                    f"the symbolic link points to {str(target)!r}, which is not a file",
                    "Replace the link with the file it should point to, or remove it.",
                )
            logger.info("following the link %s to %s", path, target)
        if path.is_file():
            files.append(path)
    return files


def _copy_source(source: Path, staging: Path) -> None:
    root = source.parent if source.is_file() else source
    for path in _source_files(source):
        relative = path.relative_to(root)
        if SKIPPED_NAMES.intersection(relative.parts):
            continue
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in PICKLE_SUFFIXES:
            converted = target.with_suffix(WEIGHT_SUFFIX)
            if converted.exists() or path.with_suffix(WEIGHT_SUFFIX).exists():
                raise WeightsError(
                    path,
                    f"both this checkpoint and {converted.name} exist, and the conversion "
                    "would replace one with the other",
                    "Remove the one you do not want to serve.",
                )
            convert_pickle(path, converted)
        elif path.suffix == WEIGHT_SUFFIX:
            read_layout(path)
            shutil.copy2(path, target)
        else:
            shutil.copy2(path, target)


def _make_readable(root: Path) -> None:
    """Give every baked file mode 0644 and every folder 0755, whatever the source's modes.

    The server usually runs as another user than the one who baked (UID 10001 in the
    image), and `shutil.copy2` and `mkdtemp` would keep a private 0600 or 0700 mode.
    """
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def convert_pickle(path: Path, target: Path) -> None:
    """Convert a pickle checkpoint to safetensors without executing code from it."""
    import pickle

    import torch
    from safetensors.torch import save_file

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(
            path,
            f"the checkpoint was rejected because it contains objects other than tensors "
            f"({reason})",
            "Loading it could run code from the file; export the weights as safetensors "
            "from trusted code instead.",
        ) from error
    except Exception as error:  # noqa: BLE001 - any failure to read an untrusted file
        raise WeightsError(
            path,
            f"the checkpoint cannot be read ({type(error).__name__}: {error})",
            "Check that the file is an intact torch.save() of a state_dict.",
        ) from error

    state = _state_dict(path, loaded)
    save_file({key: value.detach().contiguous().clone() for key, value in state.items()}, target)
    logger.info("converted %s to %s (%d tensors)", path, target, len(state))


def _state_dict(path: Path, loaded: Any) -> dict[str, Any]:
    import torch

    if (
        isinstance(loaded, dict)
        and "state_dict" in loaded
        and isinstance(loaded["state_dict"], dict)
    ):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not loaded:
        raise WeightsError(
            path,
            f"the checkpoint holds a {type(loaded).__name__}, not a mapping of tensor names",
            "Save the model's state_dict() instead.",
        )
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise WeightsError(
                path, f"the key {key!r} is not a string", "Save the model's state_dict()."
            )
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                path,
                f"entry {key!r} is a {type(value).__name__}, not a tensor",
                "Save only the model's state_dict().",
            )
        if value.layout != torch.strided or value.is_quantized or value.device.type == "meta":
            raise WeightsError(
                path,
                f"tensor {key!r} is sparse, quantized or on the meta device, which safetensors "
                "cannot store",
                "Save dense, materialized tensors, for example with .to_dense().",
            )
    return loaded


def write_manifest(model_dir: Path, name: str) -> Manifest:
    """Check the weights against the config and write the manifest of `model_dir`."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise WeightsError(
            config_path, "the model config is missing", "Add the model's config.json."
        )
    config = read_config(model_dir)
    architecture = str((config.get("architectures") or [config.get("model_type", "")])[0])

    entries: list[FileEntry] = []
    tensor_count = parameter_count = weight_bytes = 0
    dtypes: set[str] = set()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir).as_posix()
        entries.append(FileEntry(relative, path.stat().st_size, sha256_of(path)))
        if path.suffix == WEIGHT_SUFFIX:
            layout = read_layout(path)
            weight_bytes += path.stat().st_size
            tensor_count += len(layout.tensors)
            parameter_count += sum(t.element_count for t in layout.tensors.values())
            dtypes.update(t.dtype for t in layout.tensors.values())

    if weight_bytes == 0:
        raise WeightsError(
            model_dir, "the source has no .safetensors or pickle weights", "Add the weights."
        )
    _check_model_builds(model_dir, name, architecture)

    manifest = Manifest(
        name=name,
        architecture=architecture,
        files=entries,
        weight_bytes=weight_bytes,
        tensor_count=tensor_count,
        dtypes=sorted(dtypes),
        parameter_count=parameter_count,
    )
    (model_dir / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest


def _check_model_builds(model_dir: Path, name: str, architecture: str) -> None:
    from kiln_service.models import build_model
    from kiln_service.weights.loader import map_tensors

    layouts = {
        p.relative_to(model_dir).as_posix(): read_layout(p)
        for p in sorted(model_dir.rglob(f"*{WEIGHT_SUFFIX}"))
    }
    model = build_model(model_dir, name, architecture, map_tensors(model_dir, layouts))
    model.release()
