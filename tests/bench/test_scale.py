"""bench/scale judges its targets only at their setting, and each target on its own number."""

from __future__ import annotations

import pytest

from bench.scale import Phase, Report


def _phase(name: str, reads: float = 0.0, delay: float | None = None,
           ratio: float | None = None, rss: float = 150.0) -> Phase:  # fmt: skip
    return Phase(name, 60.0, 10.0, reads, 0.0, 0, rss, 0.1, 0.1, 100.0,
                 delay_p50=delay, delay_p99=delay, ratio_p50=ratio, ratio_p99=ratio)  # fmt: skip


def _report(canaries: int, interval: float, *phases: Phase) -> Report:
    return Report({}, canaries, interval, 4, 10.0, canaries, 140.0, list(phases))


@pytest.mark.parametrize(
    ("reads", "delay", "ratio", "rss", "met"),
    [
        (0.0, 1.5, 1.05, 200.0, [True, True, True, True]),
        (0.5, 1.5, 1.05, 200.0, [True, True, True, False]),
        (0.0, 2.5, 1.05, 200.0, [False, True, True, True]),
        (0.0, 1.5, 1.15, 200.0, [True, False, True, True]),
        (0.0, 1.5, 0.85, 200.0, [True, False, True, True]),
        (0.0, 1.5, 1.05, 320.0, [True, True, False, True]),
    ],
)
def test_each_target_is_judged_on_its_own_number(
    reads: float, delay: float, ratio: float, rss: float, met: list[bool]
) -> None:
    report = _report(1000, 60.0, _phase("at rest", reads=reads),
                     _phase("rolling, at once", delay=delay, ratio=ratio, rss=rss))  # fmt: skip
    assert [m for _, _, m in report.targets()] == met


def test_a_run_at_another_setting_is_not_judged() -> None:
    report = _report(100, 10.0, _phase("at rest"), _phase("rolling", delay=1.0, ratio=1.0))
    assert {m for _, _, m in report.targets()} == {None}


def test_the_pass_all_analyzer_answers_what_the_controller_asks() -> None:
    """Given the bench's analyzer, when the controller asks as it does at analysis and guard
    ticks (canary.controller.reconcile), then every check passes and no traffic is counted."""
    from datetime import UTC, datetime

    from bench.scale import PassAll, _canary
    from canary.api.canary import Canary

    canary = Canary.model_validate(_canary("app", 60.0))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    outcome = PassAll().analyze(canary, now, traffic_since=now)
    assert [r.verdict.value for r in outcome.results] == ["Pass"]
    assert PassAll().traffic(canary, now, since=now) is None
