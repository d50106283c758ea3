"""Real model directories for tests: the baked MiniLM, generated synthetic models, damage."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from kiln_service.weights.bake import bake


def write_synthetic_source(
    directory: Path,
    *,
    filler_bytes: int = 0,
    forward_delay: float = 0.0,
    vocab: int = 1000,
    hidden: int = 16,
    seed: int = 0,
) -> Path:
    """Write an unbaked `KilnSynthetic` model: config and one safetensors file."""
    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    tensors = {"embedding.weight": torch.randn(vocab, hidden, generator=generator)}
    chunk = 64 * 1024 * 1024
    for index, start in enumerate(range(0, filler_bytes, chunk)):
        count = min(chunk, filler_bytes - start) // 4
        tensors[f"filler.{index}"] = torch.randn(count, generator=generator)
    save_file(tensors, str(directory / "model.safetensors"))
    config = {
        "architectures": ["KilnSynthetic"],
        "vocab_size": vocab,
        "hidden_size": hidden,
        "forward_delay_seconds": forward_delay,
    }
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def bake_synthetic(root: Path, name: str = "synthetic", **options: float) -> Path:
    source = write_synthetic_source(root / f"{name}-source", **options)  # type: ignore[arg-type]
    output = root / name
    bake(source, output, name=name)
    return output
