"""The pure learning rules: observations from pod status and the raised budget floor."""

from __future__ import annotations

from typing import Any

from kiln_operator.conditions import phase, set_condition
from kiln_operator.learning import Observation, learn, observe_pod
from kiln_operator.status import apply_rollout

STARTED = "2026-01-01T10:00:00Z"


def pod(*, ready_after: int | None = None, killed_after: int | None = None,
        budget: int = 60) -> dict[str, Any]:
    """Return a pod whose server started at STARTED, with a startup budget of ``budget`` s."""
    container: dict[str, Any] = {"name": "server", "restartCount": 0,
                                 "state": {"running": {"startedAt": STARTED}}}
    conditions = []
    if ready_after is not None:
        conditions.append({"type": "Ready", "status": "True",
                           "lastTransitionTime": f"2026-01-01T10:{ready_after // 60:02d}:"
                                                 f"{ready_after % 60:02d}Z"})
    if killed_after is not None:
        container["restartCount"] = 1
        container["lastState"] = {"terminated": {
            "startedAt": "2026-01-01T09:00:00Z",
            "finishedAt": f"2026-01-01T09:{killed_after // 60:02d}:{killed_after % 60:02d}Z"}}
    probe = {"initialDelaySeconds": 0, "periodSeconds": 2, "timeoutSeconds": 5,
             "failureThreshold": budget // 2}
    return {"metadata": {"name": "model-abc"},
            "spec": {"containers": [{"name": "server", "startupProbe": probe}]},
            "status": {"containerStatuses": [container], "conditions": conditions}}


def test_ready_pod_reports_time_to_ready() -> None:
    observations = observe_pod(pod(ready_after=42))

    assert observations == [Observation("model-abc", STARTED, 42.0, "Ready", 60)]


def test_unready_pod_reports_nothing() -> None:
    assert observe_pod(pod()) == []


def test_startup_kill_is_observed() -> None:
    observations = observe_pod(pod(killed_after=61))

    assert [o.outcome for o in observations] == ["StartupProbeKilled"]
    assert observations[0].seconds == 61.0


def test_early_crash_is_not_startup_kill() -> None:
    assert observe_pod(pod(killed_after=12)) == []


def test_fast_pod_keeps_budget() -> None:
    decision = learn({}, Observation("p", STARTED, 20.0, "Ready", 60))

    assert decision is not None
    assert decision.raised_to is None
    assert decision.learning["latestTimeToReadySeconds"] == 20.0
    assert "startupBudgetFloorSeconds" not in decision.learning


def test_slow_pod_raises_floor_later() -> None:
    decision = learn({}, Observation("p", STARTED, 41.0, "Ready", 60))

    assert decision is not None
    assert decision.raised_to == 85
    assert decision.urgent is False
    assert "more than half" in decision.reason


def test_killed_pod_raises_floor_now() -> None:
    decision = learn({}, Observation("p", STARTED, 61.0, "StartupProbeKilled", 60))

    assert decision is not None
    assert decision.raised_to == 125
    assert decision.urgent is True


def test_same_run_counts_once() -> None:
    observation = Observation("p", STARTED, 41.0, "Ready", 60)
    first = learn({}, observation)
    assert first is not None

    assert learn(first.learning, observation) is None


def test_max_covers_recent_pods() -> None:
    learning: dict[str, Any] = {}
    for index, seconds in enumerate([10.0, 30.0, 20.0]):
        decision = learn(learning, Observation(f"p{index}", STARTED, seconds, "Ready", 60))
        assert decision is not None
        learning = decision.learning

    assert learning["latestTimeToReadySeconds"] == 20.0
    assert learning["maxTimeToReadySeconds"] == 30.0
    assert len(learning["recentPods"]) == 3


def test_condition_time_changes_only_on_flip() -> None:
    first = set_condition([], "Ready", "False", "A", "a", 1, now="2026-01-01T00:00:00Z")
    same = set_condition(first, "Ready", "False", "B", "b", 2, now="2026-01-01T00:05:00Z")
    flipped = set_condition(same, "Ready", "True", "C", "c", 2, now="2026-01-01T00:09:00Z")

    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["reason"] == "B"
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:09:00Z"


def test_rollout_sets_ready_phase() -> None:
    status: dict[str, Any] = {}
    deployment = {"status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}}

    apply_rollout(status, deployment, 2, 3)

    assert status["phase"] == "Ready"
    assert status["readyReplicas"] == 2
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Progressing": "False", "Degraded": "False"}


def test_stalled_rollout_is_degraded() -> None:
    status: dict[str, Any] = {}
    deployment = {"status": {"replicas": 1, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "stalled"}]}}

    apply_rollout(status, deployment, 1, 1)

    assert phase(status["conditions"]) == "Degraded"


def test_invalid_spec_stays_degraded_during_rollout() -> None:
    status: dict[str, Any] = {"conditions": set_condition([], "Degraded", "True", "InvalidSpec",
                                                          "spec.model.size: bad", 2)}

    apply_rollout(status, {"status": {"replicas": 1, "readyReplicas": 1,
                                      "updatedReplicas": 1}}, 1, 2)

    assert status["phase"] == "Degraded"
