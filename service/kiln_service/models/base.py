"""What the server needs from a model, and the shape check shared by all architectures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kiln_service.weights.errors import WeightsError

if TYPE_CHECKING:
    import numpy as np
    import torch


class EmbeddingModel(Protocol):
    name: str
    dimensions: int
    max_tokens: int

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Return each text's token count after truncation."""
        ...

    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Return float32 embeddings (one row per text) and each text's token count.

        Blocks for the whole forward pass, so callers run it off the event loop.
        """
        ...

    def release(self) -> int:
        """Drop every tensor reference and return how many bytes of tensors were dropped."""
        ...


def read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise WeightsError(
            path, "the model config is missing", "Bake the model again with `kiln bake`."
        ) from error
    except ValueError as error:
        raise WeightsError(
            path, f"the model config is not valid JSON ({error})", "Fix or re-bake the file."
        ) from error
    if not isinstance(config, dict):
        raise WeightsError(path, "the model config is not a JSON object", "Fix the file.")
    return config


def check_shapes(
    model_dir: Path,
    tensors: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
) -> None:
    """Raise WeightsError unless every expected tensor is present with the config's shape."""
    for name, shape in expected.items():
        tensor = tensors.get(name)
        if tensor is None:
            raise WeightsError(
                model_dir,
                f"tensor {name!r} is missing from the weights",
                "The weights do not belong to this config.json; bake a matching pair.",
            )
        if tuple(tensor.shape) != shape:
            raise WeightsError(
                model_dir,
                f"tensor {name!r} has shape {list(tensor.shape)} but config.json implies "
                f"{list(shape)}",
                "The weights do not belong to this config.json; bake a matching pair.",
            )


def config_int(model_dir: Path, config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or value <= 0:
        raise WeightsError(
            model_dir / "config.json",
            f"{key!r} is {value!r}, expected a positive integer",
            "Fix config.json or bake the model again.",
        )
    return value
