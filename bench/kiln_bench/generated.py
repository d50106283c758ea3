"""Models generated for the benchmarks, baked once into the cache folder and reused.

There are two kinds. `KilnSynthetic` models of a set file size have filler tensors that are
mapped but never read by the forward pass, so they measure the load path alone. A
BERT-shaped model with random weights and MiniLM's tokenizer has a warm-up forward pass
that reads every weight, so it measures memory with the weights really resident. Files are
written tensor by tensor in 16 MiB blocks, so generating a 4 GiB model needs little memory.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kiln_service.weights.bake import write_manifest

logger = logging.getLogger(__name__)

BLOCK_FLOATS = 4 * 2**20
FILLER_TENSOR_BYTES = 256 * 2**20
BERT_FILES = ("tokenizer.json", "sentence_bert_config.json", "modules.json")


def private_copy(model_dir: Path, cache_dir: Path) -> Path:
    """Return a copy of a baked model that only the benchmark opens.

    Another process that maps the shared copy (a test server, a developer's `make serve`)
    pins its pages in the page cache, and then a cold start is not cold.
    """
    output = cache_dir / f"copy-{model_dir.name}"
    manifest = "kiln-manifest.json"
    if (output / manifest).is_file() and (
        (output / manifest).read_bytes() == (model_dir / manifest).read_bytes()
    ):
        return output
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(model_dir, output)
    return output


def synthetic_model(cache_dir: Path, size: int) -> Path:
    """Return a baked KilnSynthetic model whose weights file is about `size` bytes."""
    output = cache_dir / f"synthetic-{size}"
    if (output / "kiln-manifest.json").is_file():
        return output
    staging = _fresh(cache_dir / f".synthetic-{size}")
    vocab, hidden = 1000, 64
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (vocab, hidden)}
    remaining = max(0, size - vocab * hidden * 4) // 4
    index = 0
    while remaining > 0:
        count = min(remaining, FILLER_TENSOR_BYTES // 4)
        shapes[f"filler.{index}"] = (count,)
        remaining -= count
        index += 1
    config = {"architectures": ["KilnSynthetic"], "vocab_size": vocab, "hidden_size": hidden}
    (staging / "config.json").write_text(json.dumps(config))
    write_safetensors(staging / "model.safetensors", shapes, scale={})
    return _bake(staging, output, f"synthetic-{size}")


def bert_model(cache_dir: Path, size: int, minilm_dir: Path) -> Path:
    """Return a baked BERT encoder with random weights of about `size` bytes."""
    output = cache_dir / f"bert-{size}"
    if (output / "kiln-manifest.json").is_file():
        return output
    staging = _fresh(cache_dir / f".bert-{size}")
    config = json.loads((minilm_dir / "config.json").read_text())
    hidden = 1024 if size >= 512 * 2**20 else 256
    inner = 4 * hidden
    embeddings = (config["vocab_size"] + config["max_position_embeddings"] + 2) * hidden * 4
    per_layer = (4 * hidden * hidden + 2 * hidden * inner + 9 * hidden + inner) * 4
    layers = max(1, round((size - embeddings) / per_layer))
    config.update(
        hidden_size=hidden, intermediate_size=inner, num_hidden_layers=layers,
        num_attention_heads=hidden // 64, type_vocab_size=2,
    )  # fmt: skip
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    for name in BERT_FILES:
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, staging / name)
    shutil.copytree(minilm_dir / "1_Pooling", staging / "1_Pooling")

    from kiln_service.models.bert import expected_shapes

    shapes: dict[str, tuple[int, ...]] = expected_shapes(staging, config)
    # The server's shape check does not list the dense layers' biases, but the forward
    # pass reads them.
    for i in range(layers):
        prefix = f"encoder.layer.{i}."
        shapes[f"{prefix}attention.output.dense.bias"] = (hidden,)
        shapes[f"{prefix}intermediate.dense.bias"] = (inner,)
        shapes[f"{prefix}output.dense.bias"] = (hidden,)
    scale = {name: 0.02 for name in shapes if not name.endswith(("LayerNorm.weight", "bias"))}
    ones = {name: 1.0 for name in shapes if name.endswith("LayerNorm.weight")}
    write_safetensors(staging / "model.safetensors", shapes, scale=scale, fill=ones)
    return _bake(staging, output, f"bert-{size}")


def write_safetensors(
    path: Path,
    shapes: dict[str, tuple[int, ...]],
    *,
    scale: dict[str, float],
    fill: dict[str, float] | None = None,
) -> None:
    """Write float32 tensors: normal noise times `scale`, a constant from `fill`, else zeros.

    Tensors absent from both maps are filler, written from one repeated block of noise.
    """
    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 4
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)

    rng = np.random.default_rng(0)
    filler = rng.standard_normal(BLOCK_FLOATS, dtype=np.float32)
    with path.open("wb") as stream:
        stream.write(struct.pack("<Q", len(encoded)))
        stream.write(encoded)
        for name, shape in shapes.items():
            for block in _blocks(
                int(np.prod(shape)), rng, filler, scale.get(name), (fill or {}).get(name)
            ):
                stream.write(block.tobytes())


def _blocks(
    count: int,
    rng: np.random.Generator,
    filler: np.ndarray,
    scale: float | None,
    constant: float | None,
) -> Iterator[np.ndarray]:
    for start in range(0, count, BLOCK_FLOATS):
        n = min(BLOCK_FLOATS, count - start)
        if scale is not None:
            yield rng.standard_normal(n, dtype=np.float32) * np.float32(scale)
        elif constant is not None:
            yield np.full(n, constant, dtype=np.float32)
        else:
            yield filler[:n]


def torch_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """Return a `torch.save` file holding the same tensors as the model's safetensors file."""
    target = cache_dir / f"{model_dir.name}.pt"
    if target.is_file():
        return target
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    partial = target.with_suffix(".partial")
    torch.save(tensors, partial)
    partial.rename(target)
    return target


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def _bake(staging: Path, output: Path, name: str) -> Path:
    logger.info("baking generated model %s", name)
    write_manifest(staging, name)
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return output
