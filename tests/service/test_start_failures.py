"""Damaged or mismatched model directories: one clear log line, a non-zero exit, never ready."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from harness.kubelet import Probe
from harness.model_files import bake_synthetic
from harness.server_process import ServerProcess

WEIGHTS = "model.safetensors"


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_synthetic(tmp_path_factory.mktemp("good"), filler_bytes=4 * 1024 * 1024)


def rewrite_manifest_entry(model_dir: Path, relative: str) -> None:
    """Make the manifest agree with a file changed after baking, as a careless re-bake would."""
    path = model_dir / "kiln-manifest.json"
    manifest = json.loads(path.read_text())
    data = (model_dir / relative).read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == relative:
            entry["size"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(manifest))


def lfs_pointer(model_dir: Path) -> None:
    (model_dir / WEIGHTS).write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 90868376\n"
    )


def truncated(model_dir: Path) -> None:
    data = (model_dir / WEIGHTS).read_bytes()
    (model_dir / WEIGHTS).write_bytes(data[: len(data) // 2])


def truncated_with_manifest_updated(model_dir: Path) -> None:
    truncated(model_dir)
    rewrite_manifest_entry(model_dir, WEIGHTS)


def trailing_bytes(model_dir: Path) -> None:
    with (model_dir / WEIGHTS).open("ab") as stream:
        stream.write(b"\0" * 100)
    rewrite_manifest_entry(model_dir, WEIGHTS)


def corrupt_header(model_dir: Path) -> None:
    data = bytearray((model_dir / WEIGHTS).read_bytes())
    data[8:20] = b"#" * 12
    (model_dir / WEIGHTS).write_bytes(bytes(data))
    rewrite_manifest_entry(model_dir, WEIGHTS)


def flipped_byte(model_dir: Path) -> None:
    data = bytearray((model_dir / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / WEIGHTS).write_bytes(bytes(data))


def wrong_shape(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    config["hidden_size"] = 32
    (model_dir / "config.json").write_text(json.dumps(config))
    rewrite_manifest_entry(model_dir, "config.json")


def missing_tensor(model_dir: Path) -> None:
    save_file({"other.weight": torch.zeros(4)}, str(model_dir / WEIGHTS))
    rewrite_manifest_entry(model_dir, WEIGHTS)


def missing_file(model_dir: Path) -> None:
    (model_dir / WEIGHTS).unlink()


def missing_manifest(model_dir: Path) -> None:
    (model_dir / "kiln-manifest.json").unlink()


def pickle_weights(model_dir: Path) -> None:
    torch.save({"embedding.weight": torch.zeros(2, 2)}, model_dir / "pytorch_model.bin")


CASES = [
    pytest.param(lfs_pointer, ["git-lfs pointer", "git lfs pull"], id="lfs-pointer"),
    pytest.param(truncated, ["truncated", "expected", "bytes, found"], id="truncated"),
    pytest.param(
        truncated_with_manifest_updated, ["truncated", "bytes, found"], id="truncated-header"
    ),
    pytest.param(trailing_bytes, ["100 bytes of trailing data"], id="trailing-bytes"),
    pytest.param(corrupt_header, ["header is not valid JSON"], id="corrupt-header"),
    pytest.param(flipped_byte, ["sha256 checksum differs", "expected"], id="checksum"),
    pytest.param(
        wrong_shape, ["'embedding.weight' has shape [1000, 16]", "[1000, 32]"], id="shape"
    ),
    pytest.param(missing_tensor, ["'embedding.weight' is missing"], id="missing-tensor"),
    pytest.param(missing_file, ["weights file is missing"], id="missing-file"),
    pytest.param(missing_manifest, ["manifest is missing", "kiln bake"], id="missing-manifest"),
    pytest.param(pickle_weights, ["pytorch_model.bin", "Convert it to safetensors"], id="pickle"),
]


@pytest.mark.parametrize(("damage", "words"), CASES)
def test_damaged_model_exits_non_zero(
    good_model: Path,
    tmp_path: Path,
    damage: Callable[[Path], None],
    words: list[str],
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(good_model, model_dir)
    damage(model_dir)

    with ServerProcess(model_dir=model_dir) as server:
        readiness = Probe(server.url("/readyz"), period=0.05).start()
        code = server.wait_exit(timeout=60)
        readiness.stop()
        log = server.log()

    assert code == 1
    assert readiness.first_success() is None
    error_lines = [line for line in log.splitlines() if "cannot serve the model" in line]
    assert len(error_lines) == 1, log
    assert str(model_dir) in error_lines[0]
    for word in words:
        assert word in error_lines[0]


def test_missing_directory_exits_non_zero(tmp_path: Path) -> None:
    with ServerProcess(model_dir=tmp_path / "nowhere") as server:
        code = server.wait_exit(timeout=60)
        log = server.log()
    assert code == 1
    assert "model directory does not exist" in log
    assert "KILN_MODEL_DIR" in log


def test_bert_missing_bias_is_named(minilm_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model_dir = tmp_path / "minilm"
    shutil.copytree(minilm_dir, model_dir)
    tensors = load_file(str(model_dir / WEIGHTS))
    del tensors["encoder.layer.0.output.dense.bias"]
    save_file(tensors, str(model_dir / WEIGHTS))
    rewrite_manifest_entry(model_dir, WEIGHTS)

    with ServerProcess(model_dir=model_dir) as server:
        code = server.wait_exit(timeout=60)
        log = server.log()
    assert code == 1
    assert "'encoder.layer.0.output.dense.bias' is missing" in log
