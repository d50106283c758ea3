"""Real adapter directories for tests: random heads, their expected scores, and damage."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import torch
from prometheus_client.parser import text_string_to_metric_families

from kiln_service.adapters.manifest import ADAPTER_MANIFEST_NAME, HEAD_FILE, write_adapter

SYNTHETIC_NAME = "synthetic"
SYNTHETIC_DIMENSIONS = 16


def write_random_adapter(
    adapters_dir: Path,
    name: str,
    *,
    labels: int = 3,
    dimensions: int = SYNTHETIC_DIMENSIONS,
    base_model: str = SYNTHETIC_NAME,
    forward_delay: float = 0.0,
    seed: int = 0,
) -> Path:
    generator = torch.Generator().manual_seed(seed)
    write_adapter(
        adapters_dir / name,
        base_model=base_model,
        labels=[f"{name}-label-{i}" for i in range(labels)],
        weight=torch.randn(labels, dimensions, generator=generator) * 4,
        bias=torch.randn(labels, generator=generator),
        forward_delay_seconds=forward_delay,
    )
    return adapters_dir / name


def head_tensors(adapter_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from safetensors.numpy import load_file

    tensors = load_file(str(adapter_dir / HEAD_FILE))
    return tensors["weight"], tensors["bias"]


def expected_scores(adapter_dir: Path, embeddings: np.ndarray) -> np.ndarray:
    """Softmax probabilities of the head in `adapter_dir`, computed here with numpy."""
    weight, bias = head_tensors(adapter_dir)
    logits = embeddings.astype(np.float64) @ weight.T.astype(np.float64) + bias
    logits -= logits.max(axis=1, keepdims=True)
    exponentials = np.exp(logits)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def labels_of(adapter_dir: Path) -> list[str]:
    return list(json.loads((adapter_dir / ADAPTER_MANIFEST_NAME).read_text())["labels"])


def flip_one_byte(adapter_dir: Path) -> None:
    """Change one byte of tensor data; sizes and header stay valid, the checksum does not."""
    path = adapter_dir / HEAD_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_head(adapter_dir: Path) -> None:
    path = adapter_dir / HEAD_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scrawl_manifest(adapter_dir: Path) -> None:
    (adapter_dir / ADAPTER_MANIFEST_NAME).write_text("{not json")


def metric_samples(metrics_url: str) -> dict[str, float]:
    """Every sample of a Prometheus endpoint, keyed by name and sorted labels."""
    samples: dict[str, float] = {}
    text = httpx.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples
