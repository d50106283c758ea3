"""BERT sentence embeddings (all-MiniLM-L6-v2 and kin), written directly against torch.

The encoder is a few dozen lines of tensor operations over the memory-mapped weights, so the
server needs neither transformers nor sentence-transformers at run time: they cost seconds of
import time and would copy the weights. The pipeline matches sentence-transformers' default
for these models: WordPiece tokens truncated at `max_seq_length`, mean pooling over the
attention mask, then L2 normalisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from kiln_service.models.base import check_shapes, config_int, read_config
from kiln_service.weights.errors import WeightsError

DEFAULT_MAX_TOKENS = 256
# WordPiece turns a word of more than 100 characters into one [UNK] token, so 128
# characters per token always reach the token limit unless the text has long runs of
# whitespace or characters the tokenizer drops. Cutting texts there first keeps one huge
# input from holding the inference thread for seconds.
CHARACTERS_PER_TOKEN = 128


@dataclass
class Layer:
    weights: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.weights[name]


class BertEmbedder:
    def __init__(
        self,
        *,
        name: str,
        tensors: dict[str, torch.Tensor],
        tokenizer: Tokenizer,
        hidden: int,
        heads: int,
        layers: int,
        eps: float,
        max_tokens: int,
        normalize: bool,
    ) -> None:
        self.name = name
        self.device = tensors["embeddings.word_embeddings.weight"].device
        self.dimensions = hidden
        self.max_tokens = max_tokens
        self._tensors = tensors
        self._tokenizer = tokenizer
        self._heads = heads
        self._eps = eps
        self._normalize = normalize
        self._layers = [
            Layer({k[len(f"encoder.layer.{i}.") :]: v for k, v in tensors.items()
                   if k.startswith(f"encoder.layer.{i}.")})
            for i in range(layers)
        ]  # fmt: skip

    @classmethod
    def from_directory(
        cls, model_dir: Path, name: str, tensors: dict[str, torch.Tensor]
    ) -> BertEmbedder:
        config = read_config(model_dir)
        hidden = config_int(model_dir, config, "hidden_size")
        heads = config_int(model_dir, config, "num_attention_heads")
        layers = config_int(model_dir, config, "num_hidden_layers")
        check_shapes(model_dir, tensors, expected_shapes(model_dir, config))

        max_tokens = _max_tokens(model_dir, config)
        tokenizer_path = model_dir / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise WeightsError(
                tokenizer_path, "the tokenizer is missing", "Bake the model again with it."
            )
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

        return cls(
            name=name,
            tensors=tensors,
            tokenizer=tokenizer,
            hidden=hidden,
            heads=heads,
            layers=layers,
            eps=float(config.get("layer_norm_eps", 1e-12)),
            max_tokens=max_tokens,
            normalize=(model_dir / "2_Normalize").exists() or _lists_normalize(model_dir),
        )

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(self._cut(texts))]

    def _cut(self, texts: list[str]) -> list[str]:
        # NOTE: a text whose first tokens are spread over more than this many characters
        # (long whitespace runs) gets fewer tokens here than the tokenizer alone would give.
        budget = self.max_tokens * CHARACTERS_PER_TOKEN
        return [text[:budget] for text in texts]

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = self._tokenizer.encode_batch(self._cut(texts))
        ids = torch.from_numpy(np.array([e.ids for e in encodings], dtype=np.int64))
        mask = torch.from_numpy(np.array([e.attention_mask for e in encodings], dtype=np.int64))
        return ids, mask

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        ids, mask = self.tokenize(texts)
        token_counts = mask.sum(dim=1).tolist()
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self._encode(ids, mask)

        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        if self._normalize:
            pooled = F.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu().numpy(), token_counts

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = self._tensors
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = (
            F.embedding(ids, t["embeddings.word_embeddings.weight"])
            + F.embedding(positions, t["embeddings.position_embeddings.weight"])
            + t["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm", t)

        attend = mask.bool()[:, None, None, :]
        for layer in self._layers:
            x = self._block(x, attend, layer)
        return x

    def _block(self, x: torch.Tensor, attend: torch.Tensor, layer: Layer) -> torch.Tensor:
        batch, length, hidden = x.shape
        head_dim = hidden // self._heads

        def project(prefix: str) -> torch.Tensor:
            y = F.linear(x, layer[f"{prefix}.weight"], layer[f"{prefix}.bias"])
            return y.view(batch, length, self._heads, head_dim).transpose(1, 2)

        query = project("attention.self.query")
        key = project("attention.self.key")
        value = project("attention.self.value")
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=attend)
        context = context.transpose(1, 2).reshape(batch, length, hidden)

        attended = F.linear(
            context, layer["attention.output.dense.weight"], layer["attention.output.dense.bias"]
        )
        x = self._norm(x + attended, "attention.output.LayerNorm", layer.weights)

        inner = F.gelu(
            F.linear(x, layer["intermediate.dense.weight"], layer["intermediate.dense.bias"])
        )
        out = F.linear(inner, layer["output.dense.weight"], layer["output.dense.bias"])
        return self._norm(x + out, "output.LayerNorm", layer.weights)

    def _norm(self, x: torch.Tensor, prefix: str, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.layer_norm(
            x, (x.shape[-1],), weights[f"{prefix}.weight"], weights[f"{prefix}.bias"], self._eps
        )

    def release(self) -> int:
        released = sum(v.numel() * v.element_size() for v in self._tensors.values())
        self._tensors.clear()
        self._layers.clear()
        return released


def expected_shapes(model_dir: Path, config: dict[str, object]) -> dict[str, tuple[int, ...]]:
    hidden = config_int(model_dir, config, "hidden_size")
    inner = config_int(model_dir, config, "intermediate_size")
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config_int(model_dir, config, "vocab_size"), hidden),
        "embeddings.position_embeddings.weight": (
            config_int(model_dir, config, "max_position_embeddings"),
            hidden,
        ),
        "embeddings.token_type_embeddings.weight": (
            config_int(model_dir, config, "type_vocab_size"),
            hidden,
        ),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(config_int(model_dir, config, "num_hidden_layers")):
        prefix = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[f"{prefix}attention.self.{name}.weight"] = (hidden, hidden)
            shapes[f"{prefix}attention.self.{name}.bias"] = (hidden,)
        shapes[f"{prefix}attention.output.dense.weight"] = (hidden, hidden)
        shapes[f"{prefix}attention.output.dense.bias"] = (hidden,)
        shapes[f"{prefix}intermediate.dense.weight"] = (inner, hidden)
        shapes[f"{prefix}intermediate.dense.bias"] = (inner,)
        shapes[f"{prefix}output.dense.weight"] = (hidden, inner)
        shapes[f"{prefix}output.dense.bias"] = (hidden,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{prefix}{norm}.weight"] = (hidden,)
            shapes[f"{prefix}{norm}.bias"] = (hidden,)
    return shapes


def _max_tokens(model_dir: Path, config: dict[str, object]) -> int:
    limit = DEFAULT_MAX_TOKENS
    path = model_dir / "sentence_bert_config.json"
    if path.is_file():
        limit = int(json.loads(path.read_text()).get("max_seq_length", limit))
    return min(limit, config_int(model_dir, config, "max_position_embeddings"))


def _lists_normalize(model_dir: Path) -> bool:
    path = model_dir / "modules.json"
    if not path.is_file():
        return True
    modules = json.loads(path.read_text())
    return any(str(m.get("type", "")).endswith("Normalize") for m in modules)
