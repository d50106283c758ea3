"""The kopf handlers of the operator, registered on a registry per operator instance.

- ModelService create, update and resume: reconcile the children, write the tuning status.
  An invalid spec sets ``Degraded`` with reason ``InvalidSpec``, posts one Warning event
  and fails permanently (no retries until the spec changes). API errors, conflicts and
  throttling are retried with exponential backoff.
- Deployment events: copy replica counts and rollout conditions into the owner's status,
  and recreate a Deployment that was deleted while its ModelService lives.
- Pod events: learn the time to ready and raise the startup budget when pods are slow.
- ModelService events: keep the phase of each watched ModelService for the metrics.

Handlers are synchronous (kopf runs them in threads) and use ``KubeApi`` for the children
and the status. kopf's own client watches the resources and posts the events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException

from kiln_operator.builders.metadata import (
    API_GROUP,
    MANAGED_BY,
    OWNER_LABEL,
    PLURAL,
    Owner,
    selector_string,
)
from kiln_operator.conditions import DEGRADED, now_rfc3339, phase, set_condition
from kiln_operator.config import OperatorConfig
from kiln_operator.job_store_condition import apply_job_store
from kiln_operator.kube import KubeApi, load_configuration
from kiln_operator.learning import Decision, learn, observe_pod
from kiln_operator.metrics import OperatorMetrics
from kiln_operator.reconcile import OwnershipConflict, Reconciled, reconcile
from kiln_operator.settings import configure_settings, connection_info
from kiln_operator.spec import InvalidSpec
from kiln_operator.status import apply_rollout, modelservice_path, tuning_status, update_status

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
SPEC_PROBLEMS = ("InvalidSpec", "OwnershipConflict")


def plain(value: Any) -> Any:
    """Return kopf's body views as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def post_event(body: dict[str, Any], kind: str, reason: str, message: str) -> None:
    """Post a Kubernetes event about ``body`` through kopf's event poster."""
    kopf.event(kopf.Body(cast(kopf.RawBody, body)), type=kind, reason=reason, message=message)


def record_reconciled(api: KubeApi, body: dict[str, Any], result: Reconciled,
                      logger: Logger) -> None:
    owner = Owner.from_body(body)
    generation = body["metadata"].get("generation", 0)
    warnings: list[tuple[str, str]] = []

    def change(status: dict[str, Any], live: dict[str, Any]) -> None:
        warnings.clear()
        warning = apply_job_store(status, result.spec.jobs, result.spec.replicas, generation)
        if warning is not None:
            warnings.append(warning)
        status["observedGeneration"] = generation
        status["selector"] = selector_string(owner)
        status["tuning"] = tuning_status(result.tuning, result.overridden)
        learning = status.setdefault("learning", {})
        learning["appliedStartupBudgetFloorSeconds"] = result.applied_floor
        conditions = status.get("conditions", [])
        degraded: dict[str, Any] = next((c for c in conditions if c["type"] == DEGRADED), {})
        if degraded.get("reason") in SPEC_PROBLEMS:
            status["conditions"] = set_condition(conditions, DEGRADED, "False", "SpecValid",
                                                 "The spec is valid again.", generation)
        # NB: read the Deployment again on every attempt. The one this reconcile wrote has
        # no status yet, and a Deployment event may have recorded newer replica counts
        # meanwhile. Writing the stale copy would move the phase back for good.
        live_deployment = api.get(deployment_path) or result.deployment
        apply_rollout(status, live_deployment, result.spec.replicas, generation)

    deployment_path = (
        f"/apis/apps/v1/namespaces/{owner.namespace}/deployments/"
        f"{result.deployment['metadata']['name']}"
    )
    if not update_status(api, owner.namespace, owner.name, change):
        return
    for reason, message in warnings:
        logger.warning("%s", message)
        post_event(body, "Warning", reason, message)


def record_problem(api: KubeApi, body: dict[str, Any], reason: str, message: str) -> None:
    owner = Owner.from_body(body)
    generation = body["metadata"].get("generation", 0)

    def change(status: dict[str, Any], live: dict[str, Any]) -> None:
        status["observedGeneration"] = generation
        conditions = set_condition(status.get("conditions", []), DEGRADED, "True", reason,
                                   message, generation)
        status["conditions"] = conditions
        status["phase"] = phase(conditions)

    update_status(api, owner.namespace, owner.name, change)


def reconcile_with_retries(api: KubeApi, config: OperatorConfig, body: dict[str, Any],
                           logger: Logger, retry: int, *, metrics: OperatorMetrics,
                           force_floor: bool = False) -> None:
    """Reconcile and record the outcome; translate failures into kopf's retry policy."""
    started = time.monotonic()
    try:
        result = reconcile(api, body, logger, force_learned_floor=force_floor)
    except InvalidSpec as error:
        metrics.reconciles.labels("invalid_spec").inc()
        logger.error("Invalid spec, not retrying until it changes: %s", error)
        record_problem(api, body, "InvalidSpec", str(error))
        post_event(body, "Warning", "InvalidSpec", str(error))
        raise kopf.PermanentError(str(error)) from error
    except OwnershipConflict as error:
        metrics.reconciles.labels("ownership_conflict").inc()
        logger.error("%s Retrying in %.0f s.", error, config.conflict_retry_seconds)
        record_problem(api, body, "OwnershipConflict", str(error))
        raise kopf.TemporaryError(str(error), delay=config.conflict_retry_seconds) from error
    except ApiException as error:
        delay = config.retry_delay(retry)
        if error.status == 422:
            metrics.reconciles.labels("child_rejected").inc()
            message = f"The API server rejected a child object as invalid: {error.body}"
            logger.error("%s", message)
            record_problem(api, body, "ChildRejected", message)
            raise kopf.PermanentError(message) from error
        metrics.reconciles.labels("retried_error").inc()
        logger.warning("API request failed with HTTP %s (%s); retry %d in %.1f s.",
                       error.status, error.reason, retry + 1, delay)
        raise kopf.TemporaryError(f"API error {error.status}: {error.reason}",
                                  delay=delay) from error
    except urllib3.exceptions.HTTPError as error:
        metrics.reconciles.labels("retried_error").inc()
        delay = config.retry_delay(retry)
        logger.warning("API server unreachable (%s); retry %d in %.1f s.", error, retry + 1, delay)
        raise kopf.TemporaryError(f"API server unreachable: {error}", delay=delay) from error
    finally:
        metrics.reconcile_seconds.observe(time.monotonic() - started)
    metrics.reconciles.labels("ok").inc()
    record_reconciled(api, body, result, logger)


def learn_from_pod(api: KubeApi, config: OperatorConfig, pod: dict[str, Any],
                   logger: Logger, metrics: OperatorMetrics) -> None:
    observations = observe_pod(pod)
    if not observations:
        return
    namespace = pod["metadata"]["namespace"]
    name = pod["metadata"]["labels"][OWNER_LABEL]
    decisions: list[Decision] = []

    def change(status: dict[str, Any], live: dict[str, Any]) -> None:
        decisions.clear()
        learning = dict(status.get("learning") or {})
        for observation in observations:
            decision = learn(learning, observation)
            if decision is None:
                continue
            learning = decision.learning
            if decision.raised_to is not None:
                learning["raisedAt"] = now_rfc3339()
                decisions.append(decision)
        status["learning"] = learning
        if any(decision.urgent for decision in decisions):
            generation = live["metadata"].get("generation", 0)
            conditions = set_condition(status.get("conditions", []), DEGRADED, "True",
                                       "StartupProbeKilled", decisions[-1].reason, generation)
            status["conditions"] = conditions
            status["phase"] = phase(conditions)

    if not update_status(api, namespace, name, change) or not decisions:
        return
    owner_body = api.get(modelservice_path(namespace, name))
    if owner_body is None:
        return
    for decision in decisions:
        when = "now, because pods are failing" if decision.urgent else "with the next rollout"
        message = (f"Raised the startup budget floor to {decision.raised_to} s, applied {when}: "
                   f"{decision.reason}.")
        logger.info("%s", message)
        metrics.budget_raises.labels(
            "startup_probe_killed" if decision.urgent else "slow_ready").inc()
        post_event(owner_body, "Warning" if decision.urgent else "Normal",
                   "StartupBudgetRaised", message)
    if any(decision.urgent for decision in decisions):
        reconcile_with_retries(api, config, owner_body, logger, 0, metrics=metrics,
                               force_floor=True)


def build_registry(config: OperatorConfig,
                   metrics: OperatorMetrics | None = None) -> kopf.OperatorRegistry:
    """Return a registry with every handler of the operator, bound to ``config`` and counting
    into ``metrics`` (a new, unserved set when None)."""
    counted = metrics if metrics is not None else OperatorMetrics()
    registry = kopf.OperatorRegistry()
    state: dict[str, KubeApi] = {}

    def api() -> KubeApi:
        if "api" not in state:
            state["api"] = KubeApi(load_configuration(config.kubeconfig))
        return state["api"]

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(load_configuration(config.kubeconfig))

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_settings(settings, config)

    @kopf.on.resume(API_GROUP, "v1alpha1", PLURAL, registry=registry)
    @kopf.on.create(API_GROUP, "v1alpha1", PLURAL, registry=registry)
    @kopf.on.update(API_GROUP, "v1alpha1", PLURAL, registry=registry)
    def reconcile_modelservice(body: kopf.Body, logger: Logger, retry: int, **_: Any) -> None:
        reconcile_with_retries(api(), config, plain(body), logger, retry, metrics=counted)

    @kopf.on.event(API_GROUP, "v1alpha1", PLURAL, registry=registry)
    def modelservice_seen(type: str | None, body: kopf.Body, **_: Any) -> None:
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        if type == "DELETED":
            counted.phases.forget(namespace, name)
        else:
            counted.phases.record(namespace, name, (body.get("status") or {}).get("phase"))

    @kopf.on.event("apps", "v1", "deployments", labels=MANAGED, registry=registry)
    def deployment_changed(type: str | None, body: kopf.Body, logger: Logger, **_: Any) -> None:
        deployment = plain(body)
        namespace = deployment["metadata"]["namespace"]
        name = deployment["metadata"].get("labels", {}).get(OWNER_LABEL)
        owner_body = api().get(modelservice_path(namespace, name)) if name else None
        if owner_body is None or owner_body["metadata"].get("deletionTimestamp"):
            return
        references = deployment["metadata"].get("ownerReferences", [])
        if not any(ref.get("uid") == owner_body["metadata"]["uid"] for ref in references):
            return
        if type == "DELETED":
            logger.warning("Deployment %s was deleted while its ModelService exists, so it is "
                           "created again.", name)
            reconcile_with_retries(api(), config, owner_body, logger, 0, metrics=counted)
            return
        replicas = owner_body["spec"].get("replicas", 1)
        update_status(api(), namespace, name, lambda status, live: apply_rollout(
            status, deployment, replicas, live["metadata"].get("generation", 0)))

    @kopf.on.event("", "v1", "pods", labels=MANAGED, registry=registry)
    def pod_changed(type: str | None, body: kopf.Body, logger: Logger, **_: Any) -> None:
        if type != "DELETED":
            learn_from_pod(api(), config, plain(body), logger, counted)

    return registry
