"""Checking and reading one adapter directory: each fault found before any tensor is used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from adapters.adapter_files import SYNTHETIC_NAME, expected_scores, write_random_adapter
from kiln_service.adapters.errors import AdapterInvalid, AdapterNotFound
from kiln_service.adapters.loading import AdapterPlan, inspect_adapter, read_adapter
from kiln_service.adapters.manifest import ADAPTER_MANIFEST_NAME, HEAD_FILE


def inspect_for_synthetic(adapters_dir: Path, name: str) -> AdapterPlan:
    return inspect_adapter(adapters_dir, name, base_model=SYNTHETIC_NAME, dimensions=16)


def replace_head(adapter_dir: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write other tensors and make the manifest's size and checksum agree with them."""
    save_file(tensors, str(adapter_dir / HEAD_FILE))
    data = (adapter_dir / HEAD_FILE).read_bytes()
    path = adapter_dir / ADAPTER_MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["files"][0].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    path.write_text(json.dumps(manifest))


def test_read_head_matches_file(tmp_path: Path) -> None:
    adapter_dir = write_random_adapter(tmp_path, "a", seed=4)
    plan = inspect_for_synthetic(tmp_path, "a")
    head = read_adapter(plan, "cpu")
    embeddings = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(
        head.classify(embeddings), expected_scores(adapter_dir, embeddings), atol=1e-6
    )
    assert plan.nbytes == head.nbytes == (3 * 16 + 3) * 4


def test_prefixed_base_model_name_matches(tmp_path: Path) -> None:
    write_random_adapter(tmp_path, "a")
    plan = inspect_adapter(tmp_path, "a", base_model=f"org/{SYNTHETIC_NAME.upper()}", dimensions=16)
    assert plan.name == "a"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(AdapterNotFound):
        inspect_for_synthetic(tmp_path / "does-not-exist", "a")


def test_wrong_dtype(tmp_path: Path) -> None:
    adapter_dir = write_random_adapter(tmp_path, "a")
    replace_head(
        adapter_dir,
        {"weight": torch.zeros(3, 16, dtype=torch.float16), "bias": torch.zeros(3)},
    )
    with pytest.raises(AdapterInvalid, match="holds tensors"):
        inspect_for_synthetic(tmp_path, "a")


def test_weight_bytes_mismatch(tmp_path: Path) -> None:
    adapter_dir = write_random_adapter(tmp_path, "a")
    path = adapter_dir / ADAPTER_MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["weight_bytes"] += 4
    path.write_text(json.dumps(manifest))
    with pytest.raises(AdapterInvalid, match="the manifest says 208 weight bytes"):
        inspect_for_synthetic(tmp_path, "a")


def test_file_replaced_after_inspection(tmp_path: Path) -> None:
    adapter_dir = write_random_adapter(tmp_path, "a", seed=1)
    plan = inspect_for_synthetic(tmp_path, "a")
    save_file({"weight": torch.ones(3, 16), "bias": torch.ones(3)}, str(adapter_dir / HEAD_FILE))
    with pytest.raises(AdapterInvalid, match="sha256 checksum"):
        read_adapter(plan, "cpu")
