"""Directories of the server container that the spec checks and the pod builders share."""

from __future__ import annotations

TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir per pod, the only writable directory by default
DATA_DIR = "/var/lib/kiln"  # the SQLite job store (KILN_DATA_DIR), when spec.jobs uses it
# Set by the server image (see the Dockerfile): the baked model and the Python environment.
MODEL_DIR = "/opt/kiln/model"
VENV_DIR = "/opt/venv"
