"""Fitting a linear classification head on the base model's embeddings.

The head is multinomial logistic regression, softmax(x·Wᵀ + b) over the labels, fit by
L-BFGS on all examples at once with an L2 penalty on W. The embeddings come from the baked
base model, loaded and verified by the server's own loader and run by the server's own model
code, so the head is fit on the same vectors the server computes at request time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from kiln_service.models import EmbeddingModel

EMBED_BATCH = 32
MAX_ITERATIONS = 500
# L-BFGS stops once no entry of the gradient exceeds this in absolute value.
GRADIENT_TOLERANCE = 1e-5


class DatasetError(ValueError):
    """A labelled-text file cannot be used for fitting; the message names the line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class Head:
    labels: list[str]
    weight: torch.Tensor
    bias: torch.Tensor
    loss: float


def read_examples(path: Path) -> list[Example]:
    """Read JSONL lines of the form {"text": "...", "label": "..."}; blank lines are skipped."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: the file cannot be read ({error}).") from error

    examples: list[Example] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise DatasetError(f"{path}:{number}: the line is not valid JSON ({error}).") from None
        text = record.get("text") if isinstance(record, dict) else None
        label = record.get("label") if isinstance(record, dict) else None
        if not isinstance(text, str) or not isinstance(label, str | int) or label == "":
            raise DatasetError(
                f"{path}:{number}: expected an object with a string 'text' and a non-empty "
                f"'label', found {line.strip()[:80]!r}."
            )
        examples.append(Example(text, str(label)))
    if not examples:
        raise DatasetError(f"{path}: the file has no examples; write one JSON object per line.")
    return examples


def load_base_model(model_dir: Path) -> EmbeddingModel:
    """Verify a baked model directory against its manifest and build its model."""
    from kiln_service.models import build_model
    from kiln_service.weights.loader import (
        LoadProgress,
        check_directory,
        map_tensors,
        read_files,
    )
    from kiln_service.weights.manifest import read_manifest

    manifest = read_manifest(model_dir)
    layouts = check_directory(model_dir, manifest)
    read_files(model_dir, manifest, verification="full", progress=LoadProgress())
    tensors = map_tensors(model_dir, layouts)
    return build_model(model_dir, manifest.name, manifest.architecture, tensors)


def embed_texts(model: EmbeddingModel, texts: list[str]) -> np.ndarray:
    rows = [model.embed(texts[start : start + EMBED_BATCH])[0]
            for start in range(0, len(texts), EMBED_BATCH)]  # fmt: skip
    return np.concatenate(rows).astype(np.float32)


def label_ids(examples: list[Example], labels: list[str], path: Path) -> list[int]:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({e.label for e in examples} - index.keys())
    if unknown:
        raise DatasetError(
            f"{path}: labels {unknown!r} do not occur in the training data, whose labels are "
            f"{labels!r}."
        )
    return [index[e.label] for e in examples]


def fit_head(embeddings: np.ndarray, targets: list[int], labels: list[str], *, l2: float) -> Head:
    """Fit the head by minimising the mean cross-entropy plus `l2`·‖W‖²."""
    import torch
    import torch.nn.functional as F

    inputs = torch.from_numpy(embeddings)
    target = torch.tensor(targets, dtype=torch.long)
    weight = torch.zeros(len(labels), inputs.shape[1], requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        max_iter=MAX_ITERATIONS,
        tolerance_grad=GRADIENT_TOLERANCE,
        line_search_fn="strong_wolfe",
    )

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(F.linear(inputs, weight, bias), target)
        loss = loss + l2 * weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(objective)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        loss = float(F.cross_entropy(F.linear(inputs, weight, bias), target))
    return Head(labels, weight.detach(), bias.detach(), loss)


def accuracy(head: Head, embeddings: np.ndarray, targets: list[int]) -> float:
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = F.linear(torch.from_numpy(embeddings), head.weight, head.bias)
    predicted = logits.argmax(dim=1).tolist()
    correct = sum(p == t for p, t in zip(predicted, targets, strict=True))
    return float(correct) / len(targets)
