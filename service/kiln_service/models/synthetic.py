"""A minimal embedding architecture for load tests, benchmarks and drills.

`KilnSynthetic` maps each whitespace-separated word to a row of one embedding table and
averages the rows. Its config may set `forward_delay_seconds`, a fixed time every forward
pass takes, so tests can hold requests in flight for a known time; extra tensors (any name
besides `embedding.weight`) are loaded and kept resident like real weights, so a generated
file of any size exercises the real load path.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kiln_service.models.base import check_shapes, config_int, read_config
from kiln_service.weights.errors import WeightsError

EMBEDDING = "embedding.weight"


class SyntheticEmbedder:
    def __init__(
        self,
        *,
        name: str,
        tensors: dict[str, torch.Tensor],
        forward_delay: float,
        max_tokens: int,
    ) -> None:
        self.name = name
        self._tensors = tensors
        self._table = tensors[EMBEDDING]
        self.dimensions = int(self._table.shape[1])
        self.max_tokens = max_tokens
        self._forward_delay = forward_delay

    @classmethod
    def from_directory(
        cls, model_dir: Path, name: str, tensors: dict[str, torch.Tensor]
    ) -> SyntheticEmbedder:
        config = read_config(model_dir)
        vocab = config_int(model_dir, config, "vocab_size")
        hidden = config_int(model_dir, config, "hidden_size")
        check_shapes(model_dir, tensors, {EMBEDDING: (vocab, hidden)})
        delay = config.get("forward_delay_seconds", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 3600:
            raise WeightsError(
                model_dir / "config.json",
                f"forward_delay_seconds is {delay!r}, expected seconds from 0 to 3600",
                "Fix config.json.",
            )
        return cls(
            name=name,
            tensors=tensors,
            forward_delay=float(delay),
            max_tokens=int(config.get("max_tokens", 256)),
        )

    def _token_ids(self, text: str) -> list[int]:
        words = text.split()[: self.max_tokens] or [""]
        rows = int(self._table.shape[0])
        return [zlib.crc32(word.encode()) % rows for word in words]

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(self._token_ids(text)) for text in texts]

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        if self._forward_delay:
            time.sleep(self._forward_delay)
        token_ids = [self._token_ids(text) for text in texts]
        rows = [self._table[torch.tensor(ids, device=self._table.device)].mean(dim=0)
                for ids in token_ids]  # fmt: skip
        vectors = F.normalize(torch.stack(rows).float(), dim=1).cpu().numpy()
        return vectors, [len(ids) for ids in token_ids]

    def release(self) -> int:
        released = sum(v.numel() * v.element_size() for v in self._tensors.values())
        self._tensors.clear()
        del self._table
        return released
