"""NOTES.txt: the commands it prints name the release's real objects and run as written.

The kubectl commands run against the API emulator. The emulator has no Deployment controller
and no operator, so the test writes the status they would write (a rolled-out Deployment, a
Ready ModelService) before the command that waits for it. Two commands are adapted to the
emulator: `apply` gets --validate=false because the emulator serves no OpenAPI
document, and the endless `get --watch` gets --request-timeout. `kubectl logs` and `helm test`
need a kubelet, so they are only checked for the names they use.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import yaml
from chart_manifests import (
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    REPOSITORY_ROOT,
    ci_values,
    only_object,
    render,
    render_objects,
)
from emulator.client import KubeRest

KUBECTL_TIMEOUT_SECONDS = 60


def notes_commands(chart: helm_python.Chart, values: dict[str, Any]) -> list[list[str]]:
    notes = next(text for name, text in render(chart, values).items() if name.endswith("NOTES.txt"))
    lines = [line.strip() for line in notes.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(("kubectl ", "helm "))]


def command_with(commands: list[list[str]], *words: str) -> list[str]:
    found = [command for command in commands if all(word in command for word in words)]
    assert len(found) == 1, f"Expected one NOTES command with {words!r}, found {found!r}."
    return found[0]


def flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def example_model_service(commands: list[list[str]]) -> dict[str, Any]:
    apply = command_with(commands, "apply")
    example: dict[str, Any] = yaml.safe_load(
        (REPOSITORY_ROOT / flag_value(apply, "-f")).read_text()
    )
    return example


def test_commands_name_operator(chart: helm_python.Chart) -> None:
    commands = notes_commands(chart, {})
    deployment = only_object(render_objects(chart), "Deployment")["metadata"]

    for verb in ("rollout", "logs"):
        command = command_with(commands, verb)
        assert f"deployment/{deployment['name']}" in command
        assert flag_value(command, "--namespace") == deployment["namespace"]


def test_helm_test_names_release(chart: helm_python.Chart) -> None:
    command = command_with(notes_commands(chart, {}), "helm", "test")

    assert command[:3] == ["helm", "test", RELEASE_NAME]
    assert flag_value(command, "--namespace") == RELEASE_NAMESPACE


def test_wait_names_example(chart: helm_python.Chart) -> None:
    commands = notes_commands(chart, {})
    example = example_model_service(commands)

    assert example["kind"] == "ModelService"
    assert "namespace" not in example["metadata"]
    assert f"modelservice/{example['metadata']['name']}" in command_with(commands, "wait")


def test_example_goes_to_watched_namespace(chart: helm_python.Chart) -> None:
    commands = notes_commands(chart, ci_values("watch-namespaces-values.yaml"))

    for verb in ("apply", "wait"):
        assert flag_value(command_with(commands, verb), "--namespace") == "team-a"


def test_listed_model_services_shown(chart: helm_python.Chart) -> None:
    commands = notes_commands(chart, ci_values("model-services-values.yaml"))

    assert command_with(commands, "modelservice/minilm")[1:3] == ["--namespace", RELEASE_NAMESPACE]
    assert command_with(commands, "modelservice/llama-70b")[1:3] == ["--namespace", "inference"]


def run_kubectl(kubeconfig: Path, command: list[str], cache: Path) -> None:
    environment = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(cache)}
    finished = subprocess.run(
        command,
        env=environment,
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, f"{shlex.join(command)} failed: {finished.stderr}"


def test_kubectl_commands_run(
    chart: helm_python.Chart, admin_api: KubeRest, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    commands = notes_commands(chart, {})
    deployment = only_object(render_objects(chart), "Deployment")
    deployments = f"/apis/apps/v1/namespaces/{RELEASE_NAMESPACE}/deployments"
    admin_api.create(deployments, deployment)
    rolled_out = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}
    rolled_out |= {"readyReplicas": 1, "availableReplicas": 1}
    admin_api.merge_patch(f"{deployments}/{RELEASE_NAME}/status", {"status": rolled_out})

    run_kubectl(admin_kubeconfig, command_with(commands, "rollout"), tmp_path)
    run_kubectl(admin_kubeconfig, [*command_with(commands, "apply"), "--validate=false"], tmp_path)
    watch = command_with(commands, "--watch")
    run_kubectl(admin_kubeconfig, [*watch, "--request-timeout=2s"], tmp_path)

    example = example_model_service(commands)["metadata"]["name"]
    namespace = flag_value(command_with(commands, "wait"), "--namespace")
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    admin_api.merge_patch(
        f"/apis/kiln.dev/v1alpha1/namespaces/{namespace}/modelservices/{example}/status",
        {"status": {"conditions": [ready]}},
    )
    run_kubectl(admin_kubeconfig, command_with(commands, "wait"), tmp_path)
