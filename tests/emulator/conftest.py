"""The emulator's own tests use the fixtures it offers to every other test folder."""

from emulator.fixtures import admin_api, admin_kubeconfig, api_emulator  # noqa: F401
