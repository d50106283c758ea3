"""Properties of the pure tuning function: budgets, periods, grace and deadlines."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln_operator import tuning
from kiln_operator.tuning import GIB, MIB, TuningInputs, estimate_load_seconds, tune

sizes = st.integers(min_value=1, max_value=4 * 2**40)
devices: st.SearchStrategy[tuning.Device] = st.sampled_from(["cpu", "gpu"])
throughputs = st.none() | st.integers(min_value=10 * MIB, max_value=20 * GIB)
verifications: st.SearchStrategy[tuning.Verification] = st.sampled_from(
    ["full", "size"])


@st.composite
def inputs(draw: st.DrawFn) -> TuningInputs:
    return TuningInputs(
        weight_bytes=draw(sizes),
        device=draw(devices),
        load_throughput=draw(throughputs),
        verify=draw(verifications),
        max_request_seconds=draw(st.integers(1, 3600)),
        drain_delay_seconds=draw(st.integers(0, 300)),
        queue_drain_seconds=draw(st.integers(0, 3600)),
        jobs=draw(st.booleans()),
        drain_mode=draw(st.sampled_from(["server", "preStopSleep"])),
        startup_budget_floor_seconds=draw(st.integers(0, 7200)),
    )


def test_load_estimate_adds_its_parts() -> None:
    size = 10 * GIB
    expected = (tuning.RUNTIME_START_SECONDS["gpu"] + size / tuning.DEFAULT_LOAD_THROUGHPUT
                + size / tuning.HASH_THROUGHPUT + tuning.WARMUP_SECONDS["gpu"])

    estimate, _, throughput = estimate_load_seconds(TuningInputs(weight_bytes=size, device="gpu"))

    assert estimate == pytest.approx(expected)
    assert throughput == tuning.DEFAULT_LOAD_THROUGHPUT


def test_size_verification_skips_hashing() -> None:
    full = tune(TuningInputs(weight_bytes=20 * GIB, verify="full"))
    size_only = tune(TuningInputs(weight_bytes=20 * GIB, verify="size"))

    assert size_only.estimated_load_seconds < full.estimated_load_seconds


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_budget_at_least_twice_estimate_unless_capped(case: TuningInputs) -> None:
    result = tune(case)

    if result.startup_budget_seconds < tuning.MAX_STARTUP_BUDGET_SECONDS:
        assert result.startup_budget_seconds >= 2 * result.estimated_load_seconds - 0.1
    assert result.startup_budget_seconds >= tuning.MIN_STARTUP_BUDGET_SECONDS
    assert result.startup_budget_seconds <= tuning.MAX_STARTUP_BUDGET_SECONDS


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_budget_respects_learned_floor(case: TuningInputs) -> None:
    result = tune(case)

    floor = min(case.startup_budget_floor_seconds, tuning.MAX_STARTUP_BUDGET_SECONDS)
    assert result.startup_budget_seconds >= floor


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_initial_delay_within_fastest_load(case: TuningInputs) -> None:
    result = tune(case)

    probe = result.startup
    assert probe.initial_delay_seconds >= 0
    assert probe.initial_delay_seconds <= max(result.fastest_load_seconds, probe.period_seconds)
    assert result.fastest_load_seconds <= result.estimated_load_seconds


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_period_keeps_probe_count_small(case: TuningInputs) -> None:
    probe = tune(case).startup

    assert probe.period_seconds >= tuning.MIN_STARTUP_PERIOD_SECONDS
    assert probe.period_seconds <= tuning.MAX_STARTUP_PERIOD_SECONDS
    if probe.period_seconds < tuning.MAX_STARTUP_PERIOD_SECONDS:
        assert probe.failure_threshold <= tuning.TARGET_STARTUP_PROBES + 1


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_server_finishes_before_sigkill(case: TuningInputs) -> None:
    result = tune(case)
    server = result.server

    server_shutdown = (server.drain_delay_seconds + result.pre_stop_sleep_seconds
                       + server.request_timeout_seconds)
    if case.jobs:
        # Queued jobs until the queue-drain deadline, then the running ones get the
        # request timeout once more.
        assert server.queue_drain_timeout_seconds is not None
        server_shutdown += server.queue_drain_timeout_seconds + server.request_timeout_seconds
    assert server_shutdown + tuning.RELEASE_SECONDS[case.device] < \
        result.termination_grace_period_seconds
    assert result.termination_grace_period_seconds - math.ceil(
        tuning.shutdown_seconds(case)) >= tuning.MIN_GRACE_MARGIN_SECONDS - 1


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_load_timeout_just_under_budget(case: TuningInputs) -> None:
    result = tune(case)

    assert result.server.load_timeout_seconds < result.startup_budget_seconds
    assert result.server.load_timeout_seconds >= 0.9 * result.startup_budget_seconds - \
        result.startup.period_seconds - result.startup.timeout_seconds
    if result.startup_budget_seconds < tuning.MAX_STARTUP_BUDGET_SECONDS:
        assert result.server.load_timeout_seconds > result.estimated_load_seconds


@settings(max_examples=200, deadline=None)
@given(inputs(), sizes)
def test_bigger_model_never_gets_less(case: TuningInputs, extra: int) -> None:
    smaller = tune(case)
    bigger = tune(TuningInputs(**{**case.__dict__, "weight_bytes": case.weight_bytes + extra}))

    assert bigger.startup_budget_seconds >= smaller.startup_budget_seconds
    assert bigger.termination_grace_period_seconds >= smaller.termination_grace_period_seconds
    assert bigger.server.load_timeout_seconds >= smaller.server.load_timeout_seconds


@settings(max_examples=200, deadline=None)
@given(inputs(), st.integers(1, 3600))
def test_longer_drain_never_gets_less(case: TuningInputs, extra: int) -> None:
    base = tune(case)
    for field in ("queue_drain_seconds", "max_request_seconds", "drain_delay_seconds"):
        longer = tune(dataclasses.replace(case, **{field: getattr(case, field) + extra}))

        assert longer.termination_grace_period_seconds >= base.termination_grace_period_seconds


@settings(max_examples=200, deadline=None)
@given(inputs())
def test_jobs_never_shorten_grace(case: TuningInputs) -> None:
    without = tune(dataclasses.replace(case, jobs=False))
    with_jobs = tune(dataclasses.replace(case, jobs=True))

    assert with_jobs.termination_grace_period_seconds >= without.termination_grace_period_seconds


def test_jobs_add_drain_and_second_request() -> None:
    off = TuningInputs(weight_bytes=GIB, max_request_seconds=40, queue_drain_seconds=25)
    on = dataclasses.replace(off, jobs=True)

    assert tuning.shutdown_seconds(on) - tuning.shutdown_seconds(off) == pytest.approx(25 + 40)


@pytest.mark.parametrize("queue_drain", [
    pytest.param(0, id="no-drain"),
    pytest.param(3600, id="hour-drain"),
])
def test_jobs_off_ignore_queue_drain(queue_drain: int) -> None:
    result = tune(TuningInputs(weight_bytes=GIB, queue_drain_seconds=queue_drain))
    default = tune(TuningInputs(weight_bytes=GIB))

    assert result.termination_grace_period_seconds == default.termination_grace_period_seconds
    assert result.server.queue_drain_timeout_seconds is None


def test_jobs_on_set_queue_drain_deadline() -> None:
    result = tune(TuningInputs(weight_bytes=GIB, queue_drain_seconds=45, jobs=True))

    assert result.server.queue_drain_timeout_seconds == 45


def test_readiness_leaves_endpoints_quickly() -> None:
    readiness = tune(TuningInputs(weight_bytes=GIB)).readiness

    assert readiness.path == "/readyz"
    assert readiness.period_seconds * readiness.failure_threshold <= 10
    assert readiness.failure_threshold <= 3


def test_liveness_has_no_initial_delay() -> None:
    result = tune(TuningInputs(weight_bytes=70 * GIB, device="gpu"))

    assert result.liveness.path == "/livez"
    assert result.liveness.initial_delay_seconds == 0
    assert result.startup.path == "/readyz"


def test_budget_over_an_hour_warns() -> None:
    result = tune(TuningInputs(weight_bytes=400 * GIB, device="gpu"))

    assert result.startup_budget_seconds > 3600
    assert any("over an hour" in warning for warning in result.warnings)


def test_small_model_has_no_warning() -> None:
    assert tune(TuningInputs(weight_bytes=90 * MIB)).warnings == ()


def test_huge_model_budget_is_capped() -> None:
    result = tune(TuningInputs(weight_bytes=4 * 2**40, device="gpu"))

    assert result.startup_budget_seconds == tuning.MAX_STARTUP_BUDGET_SECONDS
    assert any("capped" in warning for warning in result.warnings)


def test_prestop_sleep_replaces_server_drain() -> None:
    result = tune(TuningInputs(weight_bytes=GIB, drain_delay_seconds=7, drain_mode="preStopSleep"))

    assert result.pre_stop_sleep_seconds == 7
    assert result.server.drain_delay_seconds == 0


def test_gateway_gets_short_budget() -> None:
    gateway = tune(TuningInputs(gateway=True, max_request_seconds=120))

    assert gateway.startup_budget_seconds == tuning.GATEWAY_MIN_STARTUP_BUDGET_SECONDS
    assert gateway.termination_grace_period_seconds > 120 + 5
