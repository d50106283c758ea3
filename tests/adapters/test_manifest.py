"""The adapter manifest: what `write_adapter` writes, and each fault the reader rejects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from adapters.adapter_files import write_random_adapter
from kiln_service.adapters.errors import AdapterInvalid
from kiln_service.adapters.manifest import (
    ADAPTER_MANIFEST_NAME,
    HEAD_FILE,
    read_adapter_manifest,
    write_adapter,
)
from kiln_service.weights.manifest import sha256_of

Edit = Callable[[dict[str, Any]], None]


def test_written_manifest_reads_back(tmp_path: Path) -> None:
    adapter_dir = write_random_adapter(tmp_path, "tenant-7", labels=5, forward_delay=0.5)
    manifest = read_adapter_manifest(adapter_dir, "tenant-7")
    assert manifest.kind == "linear-classifier"
    assert manifest.labels == [f"tenant-7-label-{i}" for i in range(5)]
    assert manifest.dimensions == 16
    assert manifest.weight_bytes == (5 * 16 + 5) * 4
    assert manifest.forward_delay_seconds == 0.5
    assert manifest.head_file.size == (adapter_dir / HEAD_FILE).stat().st_size
    assert manifest.head_file.sha256 == sha256_of(adapter_dir / HEAD_FILE)


def test_rewrite_replaces_directory(tmp_path: Path) -> None:
    write_random_adapter(tmp_path, "a", labels=3)
    write_random_adapter(tmp_path, "a", labels=2)
    assert len(read_adapter_manifest(tmp_path / "a", "a").labels) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        pytest.param(lambda m: m.update(format_version=2), "format version 2", id="version"),
        pytest.param(lambda m: m.update(name="other"), "names it 'other'", id="name"),
        pytest.param(lambda m: m.update(kind="regressor"), "kind 'regressor'", id="kind"),
        pytest.param(lambda m: m.update(labels=["x", "x"]), "two or more distinct", id="labels"),
        pytest.param(lambda m: m.update(labels="x"), "list of strings", id="labels-type"),
        pytest.param(lambda m: m.pop("base_model"), "missing the key 'base_model'", id="missing"),
        pytest.param(lambda m: m["files"].append(m["files"][0]), "exactly one file", id="files"),
        pytest.param(lambda m: m.update(dimensions="wide"), "ValueError", id="dimensions"),
    ],
)
def test_reader_rejects_fault(tmp_path: Path, edit: Edit, reason: str) -> None:
    adapter_dir = write_random_adapter(tmp_path, "a")
    path = adapter_dir / ADAPTER_MANIFEST_NAME
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(AdapterInvalid, match="Adapter 'a' cannot be used") as raised:
        read_adapter_manifest(adapter_dir, "a")
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("name", "labels", "shape", "reason"),
    [
        pytest.param("ok", ["a", "b"], (3, 4), "do not match 2 labels", id="shape"),
        pytest.param("..", ["a", "b"], (2, 4), "is not valid", id="name"),
    ],
)
def test_writer_rejects_bad_head(
    tmp_path: Path, name: str, labels: list[str], shape: tuple[int, int], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        write_adapter(
            tmp_path / name,
            base_model="synthetic",
            labels=labels,
            weight=torch.zeros(shape),
            bias=torch.zeros(shape[0]),
        )
    assert list(tmp_path.iterdir()) == []
