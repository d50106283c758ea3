"""The linear classification head an adapter holds: softmax(embeddings · Wᵀ + b)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


class LinearHead:
    """Class probabilities over `labels` from base-model embeddings, on one device."""

    def __init__(
        self,
        *,
        labels: list[str],
        weight: torch.Tensor,
        bias: torch.Tensor,
        forward_delay: float = 0.0,
    ) -> None:
        if tuple(weight.shape[:1]) != (len(labels),) or tuple(bias.shape) != (len(labels),):
            raise ValueError(
                f"weight {list(weight.shape)} and bias {list(bias.shape)} do not match "
                f"{len(labels)} labels"
            )
        self.labels = labels
        self.dimensions = int(weight.shape[1])
        self.forward_delay = forward_delay
        # Every tensor reference lives in this dict, so `release` can drop them all.
        self._tensors = {"weight": weight, "bias": bias}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._tensors.values())

    @property
    def tensors(self) -> dict[str, torch.Tensor]:
        return self._tensors

    def classify(self, embeddings: np.ndarray) -> np.ndarray:
        """Return float32 probabilities, one row per embedding and one column per label.

        Blocks (for `forward_delay` too), so callers run it off the event loop.
        """
        import torch
        import torch.nn.functional as F

        # Taken before the delay, so a request that times out and unpins the adapter while
        # this thread still runs keeps the tensors alive until the thread is done with them.
        weight, bias = self._tensors["weight"], self._tensors["bias"]
        if self.forward_delay:
            time.sleep(self.forward_delay)
        with torch.inference_mode():
            inputs = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
            logits = F.linear(inputs.to(weight.device), weight, bias)
            probabilities = torch.softmax(logits, dim=1)
        return probabilities.float().cpu().numpy()

    def release(self) -> int:
        """Drop every tensor reference and return how many bytes of tensors were dropped."""
        released = self.nbytes
        self._tensors.clear()
        return released
