"""The engine makes torch's idle OpenMP threads sleep unless the environment chose a policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import os, sys
if sys.argv[1] == "torch-first":
    import torch
from kiln_service.inference.engine import set_openmp_wait_policy
set_openmp_wait_policy()
print(os.environ.get("OMP_WAIT_POLICY", "unset"))
"""


def policy_after(case: str, preset: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, case], env=env, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


@pytest.mark.parametrize(
    ("case", "preset", "expected"),
    [
        pytest.param("engine-first", None, "PASSIVE", id="unset-becomes-passive"),
        pytest.param("engine-first", "ACTIVE", "ACTIVE", id="environment-wins"),
        pytest.param("torch-first", None, "unset", id="too-late-after-torch"),
    ],
)
def test_openmp_wait_policy(case: str, preset: str | None, expected: str) -> None:
    assert policy_after(case, preset) == expected
