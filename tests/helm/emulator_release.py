"""`helm install`, `upgrade` and `uninstall` of the kiln chart against the API emulator.

The actions run in process through helm-python-sdk, which binds Helm 4's Go SDK. Two of Helm's
options must be switched off for the emulator. helm-python-sdk 0.2.2's `Config.install` and
`Config.upgrade` do not expose them, so this module calls the SDK's C library as those methods
do, with the extra options the library accepts:

- `disable_openapi_validation`: the emulator serves no OpenAPI document, and Helm otherwise
  stops with "failed to download openapi" before it sends any object.
- `server_side_apply`: Helm 4 applies objects server-side by default; the emulator serves
  create, patch and delete but no apply patches.

Releases use Helm's memory storage driver, so the release records stay in this process (in the
`Config`) instead of in Secrets in the emulator; a test needs no history beyond its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import helm_python
from chart_manifests import CHART_DIR, RELEASE_NAME, RELEASE_NAMESPACE
from emulator.fixtures import ADMIN_TOKEN, ADMIN_USER, OPERATOR_TOKEN, OPERATOR_USER
from emulator.running import RunningEmulator
from emulator.server import ApiEmulator
from emulator.validation import SUPPORTED_VERSIONS
from helm_python import _native

# NOTE: helm_python._native is the SDK's private ctypes layer; helm-python-sdk is pinned to
# 0.2.2 in pyproject.toml, whose helm_install and helm_upgrade take these option keys.
EMULATOR_OPTIONS = {"namespace": RELEASE_NAMESPACE, "disable_openapi_validation": True}


class CoreGroupEmulator(ApiEmulator):
    """The API emulator with the core group's discovery document as the API server sends it.

    kmock 0.8 returns `"groupVersion": "/v1"` for `GET /api/v1`, and client-go then finds no
    core kinds, so Helm fails with `no matches for kind "ServiceAccount" in version "v1"`.
    """

    # NOTE: a no-op once tests/emulator returns "v1" itself; then use its api_emulator fixture.
    async def _serve_version(self, request: Any) -> dict[str, Any]:
        document = await super()._serve_version(request)
        group_version = str(document.get("groupVersion", ""))
        if group_version.startswith("/"):
            document["groupVersion"] = group_version.removeprefix("/")
        return document


@contextmanager
def running_emulator() -> Iterator[RunningEmulator]:
    """Serve a `CoreGroupEmulator` with the tokens and validation of tests/emulator's own.

    Unlike tests/emulator's fixture it starts without the ModelService CRD: the release installs
    it from the chart's crds/, as on a new cluster."""
    emulator = CoreGroupEmulator(
        tokens={ADMIN_TOKEN: ADMIN_USER, OPERATOR_TOKEN: OPERATOR_USER},
        validate_versions=SUPPORTED_VERSIONS,
    )
    running = RunningEmulator(emulator).start()
    try:
        yield running
    finally:
        running.stop()


class EmulatorRelease:
    """The kiln release in one emulator, installed and changed through Helm's Go SDK."""

    def __init__(self, kubeconfig: Path) -> None:
        self.config = helm_python.Config(
            kubeconfig_path=kubeconfig, namespace=RELEASE_NAMESPACE, storage_driver="memory"
        )
        self.chart = helm_python.Chart.load(CHART_DIR)

    def __enter__(self) -> EmulatorRelease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.chart.close()
        self.config.close()

    def install(self, values: dict[str, Any]) -> dict[str, Any]:
        """Run `helm install kiln` with these values; return Helm's release summary."""
        return self._run("helm_install", values, server_side_apply=False)

    def upgrade(self, values: dict[str, Any]) -> dict[str, Any]:
        """Run `helm upgrade kiln` with these values; return Helm's release summary."""
        # Helm 4's upgrade takes "auto", "true" or "false" here, its install a boolean.
        return self._run("helm_upgrade", values, server_side_apply="false")

    def uninstall(self) -> dict[str, Any]:
        """Run `helm uninstall kiln`; return Helm's summary."""
        return self.config.uninstall(RELEASE_NAME)

    def _run(self, action: str, values: dict[str, Any], **options: Any) -> dict[str, Any]:
        payload = _native.call_string(
            action,
            self.config._raw(),
            _native.HANDLE(0),
            self.chart._raw(),
            None,
            RELEASE_NAME,
            json.dumps(values),
            json.dumps({**EMULATOR_OPTIONS, **options}),
        )
        summary: dict[str, Any] = json.loads(payload)
        return summary
