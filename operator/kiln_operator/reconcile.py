"""Reconcile one ModelService: compute its tuning, then create or patch what it owns.

Idempotent: every child is read first and patched only when a field the operator sets
differs, so running it again on unchanged input sends no write. A learned startup-budget
floor enters the pod template only when the template changes anyway (a rollout is coming)
or when the caller forces it because pods are failing. Healthy pods are never rolled just
to change a probe number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from kiln_operator.builders import deployment as deployments
from kiln_operator.builders import network
from kiln_operator.builders.metadata import TEMPLATE_HASH_ANNOTATION, Owner
from kiln_operator.kube import KubeApi, is_applied, patch_body, without_nones
from kiln_operator.overrides import apply_overrides
from kiln_operator.spec import ModelServiceSpec, parse_spec
from kiln_operator.tuning import Tuning, tune

NODE_SELECTOR_PATH = ("spec", "template", "spec", "nodeSelector")


class OwnershipConflict(Exception):
    """A child's name is taken by an object that another owner controls."""


@dataclass(frozen=True)
class Reconciled:
    spec: ModelServiceSpec
    tuning: Tuning
    overridden: list[str]
    applied_floor: int
    deployment: dict[str, Any]


def effective_tuning(spec_body: dict[str, Any], floor: int) -> tuple[ModelServiceSpec, Tuning,
                                                                      list[str]]:
    """Parse the spec and return it with the tuning after overrides (raises InvalidSpec)."""
    spec = parse_spec(spec_body, startup_budget_floor=floor)
    tuning, overridden = apply_overrides(tune(spec.tuning_inputs), spec.probe_overrides,
                                         spec.grace_override)
    return spec, tuning, overridden


def ensure(
    api: KubeApi,
    collection: str,
    desired: dict[str, Any],
    owner: Owner,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    owned_maps: tuple[tuple[str, ...], ...] = (),
) -> dict[str, Any]:
    """Create ``desired`` in ``collection``, or patch the live object where it differs."""
    name = desired["metadata"]["name"]
    kind = desired["kind"]
    live = api.get(f"{collection}/{name}")
    if live is None:
        created = api.create(collection, without_nones(desired))
        logger.info("Created %s %s.", kind, name)
        return created
    controller = next((ref for ref in live["metadata"].get("ownerReferences", [])
                       if ref.get("controller")), None)
    if controller is None or controller.get("uid") != owner.uid:
        raise OwnershipConflict(
            f"{kind} {owner.namespace}/{name} exists and is not controlled by ModelService "
            f"{owner.name}; delete or rename it so the operator can create its own.")
    if is_applied(desired, live):
        return live
    patched = api.merge_patch(f"{collection}/{name}", patch_body(desired, live, owned_maps))
    logger.info("Patched %s %s to match the spec.", kind, name)
    return patched


def remove(api: KubeApi, path: str, kind: str,
           logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Delete an object the spec no longer needs; read first, so no-op runs send no write."""
    if api.get(path) is not None and api.delete(path):
        logger.info("Deleted %s %s, which the spec no longer needs.", kind, path.rsplit("/", 1)[1])


def reconcile(
    api: KubeApi,
    body: dict[str, Any],
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    *,
    force_learned_floor: bool = False,
) -> Reconciled:
    """Bring the children of ``body`` in line with its spec; raise InvalidSpec on bad input."""
    owner = Owner.from_body(body)
    learning = (body.get("status") or {}).get("learning") or {}
    learned = int(learning.get("startupBudgetFloorSeconds", 0))
    applied = int(learning.get("appliedStartupBudgetFloorSeconds", 0))
    apps = f"/apis/apps/v1/namespaces/{owner.namespace}/deployments"
    live_deployment = api.get(f"{apps}/{owner.name}")

    spec, tuning, overridden = effective_tuning(body["spec"], applied)
    desired = deployments.deployment(owner, spec, tuning)
    live_hash = ((live_deployment or {}).get("metadata", {}).get("annotations") or {}).get(
        TEMPLATE_HASH_ANNOTATION)
    rollout_anyway = live_hash != desired["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    floor = applied
    if learned != applied and (rollout_anyway or force_learned_floor):
        floor = learned
        spec, tuning, overridden = effective_tuning(body["spec"], floor)
        desired = deployments.deployment(owner, spec, tuning)
        logger.info("Applying the learned startup budget floor of %d s with this rollout.", floor)
    if rollout_anyway:
        logger.info(
            "Pod template for %d replicas: weights %d bytes on %s, estimated load %.0f s; "
            "startup budget %d s (initial delay %d s, period %d s x %d), grace period %d s, "
            "server load timeout %d s.",
            spec.replicas, spec.weight_bytes, spec.tuning_inputs.device,
            tuning.estimated_load_seconds, tuning.startup_budget_seconds,
            tuning.startup.initial_delay_seconds, tuning.startup.period_seconds,
            tuning.startup.failure_threshold, tuning.termination_grace_period_seconds,
            tuning.server.load_timeout_seconds)

    core = f"/api/v1/namespaces/{owner.namespace}"
    claim = network.jobs_volume_claim(owner, spec)
    if claim is not None:
        ensure_claim(api, f"{core}/persistentvolumeclaims", claim, owner, logger)
    live = ensure(api, apps, desired, owner, logger, owned_maps=(NODE_SELECTOR_PATH,))
    ensure(api, f"{core}/services", network.service(owner, spec), owner, logger)
    budgets = f"/apis/policy/v1/namespaces/{owner.namespace}/poddisruptionbudgets"
    budget = network.disruption_budget(owner, spec)
    if budget is not None:
        ensure(api, budgets, budget, owner, logger)
    else:
        remove(api, f"{budgets}/{owner.name}", "PodDisruptionBudget", logger)
    return Reconciled(spec, tuning, overridden, floor, live)


def ensure_claim(api: KubeApi, collection: str, desired: dict[str, Any], owner: Owner,
                 logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Create the job-store claim; never patch it, because a claim's spec is immutable
    except for growing its storage, which the storage class may not allow."""
    name = desired["metadata"]["name"]
    try:
        if api.get(f"{collection}/{name}") is None:
            api.create(collection, desired)
            logger.info("Created PersistentVolumeClaim %s of %s for the job store.", name,
                        desired["spec"]["resources"]["requests"]["storage"])
    except ApiException as error:
        if error.status != 409:
            raise
