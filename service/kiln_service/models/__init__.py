"""Model architectures the server can run, chosen by the manifest's `architecture`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kiln_service.models.base import EmbeddingModel
from kiln_service.weights.errors import WeightsError

if TYPE_CHECKING:
    import torch

ARCHITECTURES = ("BertModel", "KilnSynthetic")


def build_model(
    model_dir: Path, name: str, architecture: str, tensors: dict[str, torch.Tensor]
) -> EmbeddingModel:
    """Build the model that `architecture` names around already-mapped `tensors`."""
    if architecture == "BertModel":
        from kiln_service.models.bert import BertEmbedder

        return BertEmbedder.from_directory(model_dir, name, tensors)
    if architecture == "KilnSynthetic":
        from kiln_service.models.synthetic import SyntheticEmbedder

        return SyntheticEmbedder.from_directory(model_dir, name, tensors)
    raise WeightsError(
        model_dir / "config.json",
        f"architecture {architecture!r} is not supported",
        f"Serve one of {', '.join(ARCHITECTURES)}, or run it behind --backend.",
    )


__all__ = ["ARCHITECTURES", "EmbeddingModel", "build_model"]
