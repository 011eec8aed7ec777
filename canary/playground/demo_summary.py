"""The demo's summary from what happened: the load generator's record, Envoy's logs, the pods.

Inputs are plain rows (dicts), normalised by `demo_mesh`:
- user requests (load generator): `time` (UNIX s), `status` (0 when no answer), `version`
  (`x-app-version`, "" when none), `latency_ms`, `error`;
- served requests (Envoy upstream log, mirrored copies included): `time`, `code`, `port` (the
  upstream pod's port), `duration_ms`, `mirror` (bool);
- pod lifecycle (the runner): `time`, `event`, `port`, `version`, `deployment`.

A pod's port identifies it only while it runs, so `PortBook` maps (port, time) to the pod.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class PodSpan:
    """One run of a pod's process on one port: [started, stopped), ready within [ready, unready)."""

    port: int
    pod: str
    deployment: str
    version: str
    started: float
    stopped: float
    ready_spans: tuple[tuple[float, float], ...]


class PortBook:
    """Which pod served on a port at a given time, and whether it was ready then."""

    def __init__(self, lifecycle: list[JSON]) -> None:
        runs: dict[tuple[str, int], JSON] = {}
        spans: list[PodSpan] = []
        for e in sorted(lifecycle, key=lambda e: float(e["time"])):
            key = (e["pod"], int(e.get("port") or 0))
            t = float(e["time"])
            if e["event"] == "started":
                runs[key] = {"start": t, "ready": [], "ready_at": None, "entry": e}
            run = runs.get(key)
            if run is None:
                continue
            if e["event"] == "ready":
                run["ready_at"] = t
            elif e["event"] in ("unready", "crashed", "terminating", "stopped"):
                if run["ready_at"] is not None:
                    run["ready"].append((run["ready_at"], t))
                    run["ready_at"] = None
                if e["event"] in ("crashed", "stopped"):
                    spans.append(self._span(key, run, t))
                    del runs[key]
        for key, run in runs.items():
            if run["ready_at"] is not None:
                run["ready"].append((run["ready_at"], float("inf")))
            spans.append(self._span(key, run, float("inf")))
        self._by_port: dict[int, list[PodSpan]] = defaultdict(list)
        for span in sorted(spans, key=lambda s: s.started):
            self._by_port[span.port].append(span)

    @staticmethod
    def _span(key: tuple[str, int], run: JSON, stopped: float) -> PodSpan:
        e = run["entry"]
        return PodSpan(
            key[1],
            key[0],
            e.get("deployment", ""),
            e.get("version") or "",
            run["start"],
            stopped,
            tuple(run["ready"]),
        )

    def at(self, port: int, t: float) -> PodSpan | None:
        """The pod on `port` at time `t` (the latest started before t), or None."""
        spans = self._by_port.get(port, [])
        i = bisect.bisect_right([s.started for s in spans], t) - 1
        return spans[i] if i >= 0 else None


def version_counts(user: list[JSON], served: list[JSON], book: PortBook) -> dict[str, JSON]:
    """Per version: user requests served, failed (5xx or no answer), mirrored requests received."""
    out: dict[str, JSON] = {}

    def row(version: str) -> JSON:
        return out.setdefault(version, {"user_requests": 0, "failed": 0, "mirrored_received": 0})

    for r in user:
        if r.get("version"):
            row(r["version"])["user_requests"] += 1
            if int(r.get("status") or 0) >= 500:
                row(r["version"])["failed"] += 1
    for r in served:
        if r.get("mirror"):
            span = book.at(int(r["port"]), float(r["time"]))
            row(span.version if span else "unknown")["mirrored_received"] += 1
    return dict(sorted(out.items()))


def request_totals(user: list[JSON], faulty: str) -> JSON:
    """Sent, answered, failed (5xx or no answer), failed by the faulty version, unanswered."""
    answered = [r for r in user if int(r.get("status") or 0) > 0]
    failed = [r for r in user if int(r.get("status") or 0) >= 500 or not r.get("status")]
    return {
        "sent": len(user),
        "answered": len(answered),
        "failed": len(failed),
        "failed_by_faulty_version": sum(r.get("version") == faulty for r in failed),
        "unanswered": len(user) - len(answered),
    }


def iso(t: float) -> str:
    return (
        dt.datetime.fromtimestamp(t, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def decisions(history: list[JSON]) -> list[JSON]:
    """The controller's decisions (Canary status.history entries), in order, with both weights."""
    out = []
    for e in history:
        weight = int(e.get("canaryWeight", 0))
        out.append(
            {
                "time": e.get("time"),
                "phase": e.get("phase"),
                "canary_weight": weight,
                "primary_weight": 100 - weight,
                "mirror_weight": int(e.get("mirrorWeight", 0)),
                "verdict": e.get("verdict", ""),
                "reason": e.get("reason", ""),
            }
        )
    return out


def per_second(
    served: list[JSON], book: PortBook, start: float, window: float = 2.0, step: float = 1.0
) -> dict[str, list[JSON]]:
    """Per Deployment, every `step` s: requests, success rate % and p99 ms over the last `window` s.

    Mirrored copies count (the destination's view, as Istio's `reporter="destination"`).
    """
    by_workload: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    for r in served:
        span = book.at(int(r["port"]), float(r["time"]))
        if span is not None:
            by_workload[span.deployment].append(
                (float(r["time"]) - start, int(r["code"]), float(r["duration_ms"]))
            )
    out: dict[str, list[JSON]] = {}
    for workload, rows in by_workload.items():
        rows.sort()
        times = [r[0] for r in rows]
        end = times[-1] if times else 0.0
        series = []
        t = step
        while t <= end + step:
            lo, hi = bisect.bisect_left(times, t - window), bisect.bisect_left(times, t)
            chunk = rows[lo:hi]
            if chunk:
                ok = sum(c[1] < 500 for c in chunk)
                durations = sorted(c[2] for c in chunk)
                p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))]
                series.append(
                    {
                        "t": t,
                        "requests": len(chunk),
                        "success_rate": 100.0 * ok / len(chunk),
                        "p99_ms": p99,
                    }
                )
            t += step
        out[workload] = series
    return out


def served_counter(user: list[JSON]) -> Counter[str]:
    return Counter(r.get("version") or "" for r in user)
