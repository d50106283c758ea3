"""Images for the image tests, built once per session with the project's own build script.

The tests build with podman. Where podman is missing the whole folder is skipped; CI
installs it (.ci/run). The base image is, in order of preference: KILN_IMAGE_BASE, a
Debian base made with debootstrap when running as root (built once and then found by its
tag), or the Dockerfile's default python:3.11-slim, which podman must be able to pull.
Podman's layer cache makes a second session rebuild nothing that did not change.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from containers import build_options, torch_index_options

from harness.model_files import write_synthetic_source

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
BUILD_TIMEOUT = 1800
SERVER_TAG = "localhost/kiln-server:test"
SLOW_SERVER_TAG = "localhost/kiln-server:test-slow-synthetic"
OPERATOR_TAG = "localhost/kiln-operator:test"
# Seconds every forward pass of the slow synthetic model takes, warm-up included.
SLOW_FORWARD_SECONDS = 1.5
CONTEXT_FILES = [
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "service",
    "operator",
    "scripts",
]

INSTALL_HINT = (
    "Install podman, runc and debootstrap (Debian: apt-get install podman runc debootstrap "
    "uidmap fuse-overlayfs), as .ci/run does."
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"podman is not installed. {INSTALL_HINT}")
    for item in items:
        if item.get_closest_marker("image") is None:
            continue
        # The first test of a session pays for the image builds.
        item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT + 300))
        if shutil.which("podman") is None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def build_lock() -> Iterator[None]:
    """Serialize image builds between test sessions that run at the same time."""
    CACHE.mkdir(exist_ok=True)
    with (CACHE / "image-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the files the images are built from, taken once per session.

    Every image of a session comes from the same sources even while someone edits the
    working tree, so the layers that two images share are the same layers.
    """
    context = tmp_path_factory.mktemp("image-context")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in CONTEXT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, context / name)
    return context


def run_script(context: Path, name: str, *args: str) -> str:
    """Run scripts/NAME of the build context; return the last line of its output, an image."""
    command = ["bash", str(context / "scripts" / name), *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        raise AssertionError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def base_options(build_lock: None, build_context: Path) -> list[str]:
    """`--base-image` for scripts/build-image.sh, or nothing to use the Dockerfile's default."""
    if os.environ.get("KILN_IMAGE_BASE"):
        return ["--base-image", os.environ["KILN_IMAGE_BASE"]]
    if os.geteuid() == 0 and shutil.which("debootstrap") is not None:
        return ["--base-image", run_script(build_context, "build-base-image.sh")]
    return []


@pytest.fixture(scope="session")
def build_image(build_context: Path, base_options: list[str]) -> Callable[..., str]:
    """A function that builds an image with scripts/build-image.sh and returns its name."""

    def build(*args: str) -> str:
        options = [*base_options, *torch_index_options(), *args, "--", *build_options()]
        return run_script(build_context, "build-image.sh", *options)

    return build


@pytest.fixture(scope="session")
def server_image(build_image: Callable[..., str]) -> str:
    """The default server image, with all-MiniLM-L6-v2 baked in."""
    return build_image("--tag", SERVER_TAG)


@pytest.fixture(scope="session")
def slow_server_image(
    build_image: Callable[..., str],
    server_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A server image whose synthetic model takes SLOW_FORWARD_SECONDS per forward pass.

    It is built from a model folder through the model-source build context, after the
    default image, so that it shows which layers a second model reuses.
    """
    source = write_synthetic_source(
        tmp_path_factory.mktemp("image-model") / "slow-synthetic",
        forward_delay=SLOW_FORWARD_SECONDS,
    )
    return build_image("--tag", SLOW_SERVER_TAG, "--model-dir", str(source))


@pytest.fixture(scope="session")
def operator_image(build_image: Callable[..., str]) -> str:
    return build_image("--target", "operator", "--tag", OPERATOR_TAG)
