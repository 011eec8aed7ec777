"""The simulator's two observers: exact mode as before the model, and what the model changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.api.canary import Metric
from canary.api.loading import load_canary
from canary.cli import main
from canary.engine.types import Routes
from canary.sim.observer import ExactObserver, PrometheusObserver
from canary.sim.scenario import PrometheusModel, Scenario, load_scenario
from canary.sim.simulator import simulate
from canary.sim.traffic import Traffic

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "examples/scenarios"


def scenario(name: str, **prometheus: Any) -> Scenario:
    loaded = load_scenario(SCENARIOS / f"{name}.yaml")
    model = loaded.prometheus.model_copy(update=prometheus)
    return loaded.model_copy(update={"prometheus": model})


def summary(canary: str, name: str, seed: int, **prometheus: Any) -> tuple[object, ...]:
    outcome = simulate(
        load_canary(ROOT / f"examples/{canary}.yaml"), scenario(name, **prometheus), seed=seed
    )
    return (
        outcome.phase.value,
        outcome.decision_seconds,
        outcome.canary_requests,
        outcome.canary_failed_requests,
        outcome.user_requests,
        len(outcome.ticks),
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(1, 10_000),
    weight=st.integers(0, 100),
    seconds=st.integers(1, 300),
    window=st.tuples(st.integers(0, 300), st.integers(0, 300)),
)
def test_exact_mode_counts_every_request_of_the_window(
    seed: int, weight: int, seconds: int, window: tuple[int, int]
) -> None:
    """Given any traffic history, then the exact observer's sequential-test sample and success rate
    are the per-second counts of [since, until) added up: no scrape, window or extrapolation.

    (Outcome-level pins against the simulator before the model stopped making sense once the
    engine itself changed in the same issue: this checks the observation, which is what exact
    mode promises to keep.)"""
    world = Scenario.model_validate(
        {"traffic": [{"rps": 80}], "canary": {"errorRate": 0.05}, "prometheus": {"exact": True}}
    )
    traffic = Traffic(world, np.random.default_rng(seed))
    exact = ExactObserver(traffic)
    traffic.run_until(seconds, Routes(primary=100 - weight, canary=weight))
    since, until = sorted(window)
    sample = exact.traffic(since, until)
    assert sample.canary_requests == sum(traffic.canary.requests[since:until])
    assert sample.canary_failures == sum(traffic.canary.failures[since:until])
    assert sample.primary_requests == sum(traffic.primary.requests[since:until])
    assert sample.primary_failures == sum(traffic.primary.failures[since:until])
    success = Metric.model_validate(
        {
            "name": "request-success-rate",
            "interval": f"{max(1, until)}s",
            "thresholdRange": {"min": 99},
        }
    )
    reading = exact.metric(success, until).canary.value
    requests = sum(traffic.canary.requests[0:until])
    if requests == 0:
        assert reading is None
    else:
        failures = sum(traffic.canary.failures[0:until])
        assert reading == pytest.approx(100 * (1 - failures / requests))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(1, 10_000),
    interval=st.sampled_from(["5s", "15s", "30s", "1m"]),
    lag=st.sampled_from(["0s", "1s", "10s"]),
    pods=st.integers(1, 5),
)
def test_exact_mode_ignores_the_model_settings(
    seed: int, interval: str, lag: str, pods: int
) -> None:
    """Given exact: true, then scrapes, lag and pods change nothing: the same seed, the same rollout."""
    plain = summary("my-app", "error-regression", seed, exact=True)
    tuned = summary(
        "my-app",
        "error-regression",
        seed,
        exact=True,
        scrape_interval=interval,
        query_lag=lag,
        pods=pods,
    )
    assert plain == tuned


def observed(rps: float, seconds: int, **prometheus: Any) -> tuple[Traffic, PrometheusObserver]:
    """A world where the canary serves all of `rps` (user traffic, 100% weight) for `seconds`."""
    world = Scenario.model_validate(
        {"traffic": [{"rps": rps}], "canary": {"errorRate": 0.0}, "prometheus": prometheus}
    )
    traffic = Traffic(world, np.random.default_rng(1))
    observer = PrometheusObserver(world, traffic, np.random.default_rng(2))
    traffic.run_until(seconds, Routes(primary=0, canary=100))
    return traffic, observer


def test_the_first_scrape_of_a_new_series_counts_from_zero() -> None:
    """Given a canary that starts serving at 0 s with scrapes at 14 s, 29 s, ..., when the
    sequential test counts its requests since 0 s at 20 s (one scrape in the range), then it sees
    every request up to that scrape: a new series counts from 0 (promql.REQUESTS_SINCE), where
    increase() would see nothing until the series' second sample."""
    traffic, observer = observed(100, 60, scrape_interval="15s", phase="14s", pods=1)
    assert traffic.sample(0, 20).canary_requests > traffic.sample(0, 14).canary_requests > 0
    assert observer.traffic(0, 20).canary_requests == traffic.sample(0, 14).canary_requests
    assert observer.traffic(0, 40).canary_requests == traffic.sample(0, 29).canary_requests


def test_an_analysis_intervals_sample_misses_a_new_series_first_scrape() -> None:
    """Given the same canary, when the sample is an analysis interval's (no sequential test: the
    controller's REQUESTS, increase()), then the first scrape only creates the series."""
    traffic, observer = observed(100, 60, scrape_interval="15s", phase="14s", pods=1)
    assert traffic.sample(0, 20).canary_requests > 0
    assert observer.traffic(0, 20, cumulative=False).canary_requests == 0
    assert observer.traffic(0, 40, cumulative=False).canary_requests > 0


def test_a_scrape_being_ingested_is_not_seen() -> None:
    """Given scrapes at 0 s, 15 s, 30 s and 45 s, when the controller asks at 45 s with a 1 s lag,
    then the 45 s scrape is missing and [15 s, 45 s] holds only two samples."""
    _, lagging = observed(100, 60, scrape_interval="15s", phase="0s", pods=1, query_lag="1s")
    _, instant = observed(100, 60, scrape_interval="15s", phase="0s", pods=1, query_lag="0s")
    assert lagging.traffic(15, 45) != instant.traffic(15, 45)
    # Between scrapes the lag changes nothing.
    assert lagging.traffic(16, 44) == instant.traffic(16, 44)


def test_p99_is_interpolated_within_istios_buckets() -> None:
    """Given latencies with p50 40 ms and p99 150 ms, then the histogram's p99 lies in the
    100-250 ms bucket and above the true 150 ms (linear interpolation in a wide bucket)."""
    canary = load_canary(ROOT / "examples/my-app.yaml")
    duration = next(m for m in canary.spec.analysis.metrics if m.name == "request-duration")
    _, observer = observed(200, 300)
    value = observer.metric(duration, 300).canary.value
    assert value is not None
    assert 150 < value < 250


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param({"scrapeInterval": "1500ms"}, "whole seconds", id="fractional-interval"),
        pytest.param({"scrapeInterval": "15s", "phase": "15s"}, "below scrapeInterval", id="phase"),
        pytest.param({"pods": 0}, "greater than or equal to 1", id="no-pods"),
        pytest.param({"queryLag": "2h"}, "at most 1h", id="lag"),
    ],
)
def test_invalid_prometheus_blocks_are_refused(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        PrometheusModel.model_validate(fields)


def test_the_model_is_on_by_default_and_exact_turns_it_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert Scenario().prometheus.exact is False
    args = ["simulate", str(ROOT / "examples/my-app.yaml"), "--scenario"]
    args += [str(SCENARIOS / "error-regression.yaml"), "--json", "--seed", "2"]
    assert main([*args, "--exact"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    modelled = json.loads(capsys.readouterr().out)
    # --exact is the same simulation as `prometheus: {exact: true}` in the scenario.
    same = summary("my-app", "error-regression", 2, exact=True)
    assert (exact["phase"], exact["decisionSeconds"], exact["canaryRequests"]) == same[:3]
    assert modelled["phase"] == "Failed"
    assert modelled != exact
