"""The operator image: kiln without torch, running `kiln operator` as a non-root user."""

from __future__ import annotations

import subprocess

import pytest
from containers import RUN_OPTIONS, image_config

pytestmark = pytest.mark.image

FIND_TORCH = "import importlib.util; print(importlib.util.find_spec('torch') is None)"


def run(image: str, *args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    options = ["--entrypoint", entrypoint] if entrypoint else []
    return subprocess.run(
        ["podman", "run", "--rm", "--network", "none", *RUN_OPTIONS, *options, image, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_operator_has_no_torch(operator_image: str) -> None:
    result = run(operator_image, "-c", FIND_TORCH, entrypoint="python3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_operator_entrypoint_and_user(operator_image: str) -> None:
    config = image_config(operator_image)["Config"]
    assert config["Entrypoint"] == ["kiln", "operator"]
    assert config["User"] == "10001:10001"


def test_operator_help_runs(operator_image: str) -> None:
    result = run(operator_image, "--help")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage: kiln operator" in result.stdout
