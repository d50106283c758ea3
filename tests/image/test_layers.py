"""Layer layout of the server image: the weights alone in the last layer."""

from __future__ import annotations

import json

import pytest
from containers import image_config, podman

pytestmark = pytest.mark.image

# Model files besides the weights (tokenizer, vocabulary, configs) and tar headers.
NON_WEIGHT_ALLOWANCE = 16 * 1024 * 1024


def layer_digests(image: str) -> list[str]:
    return list(image_config(image)["RootFS"]["Layers"])


def test_new_model_changes_only_last_layer(server_image: str, slow_server_image: str) -> None:
    default = layer_digests(server_image)
    other = layer_digests(slow_server_image)
    assert default[:-1] == other[:-1]
    assert default[-1] != other[-1]


def test_last_layer_holds_the_weights(server_image: str) -> None:
    history = json.loads(podman("history", "--format", "json", server_image))
    last = next(entry for entry in history if entry["size"] > 0)
    labels = image_config(server_image)["Config"]["Labels"]
    weight_bytes = int(labels["dev.kiln.model.weight-bytes"])
    assert "COPY" in last["CreatedBy"], last
    assert weight_bytes <= last["size"] <= weight_bytes + NON_WEIGHT_ALLOWANCE
