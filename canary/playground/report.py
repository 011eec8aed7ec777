"""The demo's timeline report: one self-contained HTML file of plotly charts.

Three charts share the time axis (seconds since the demo started): the VirtualService's weights
(primary, canary, mirror), then the success rate and the p99 latency of the primary and of the
canary (per second, over the last 2 s of requests each served, mirrored copies included, as Istio's
destination reporter counts them). Every decision of the controller is a dotted vertical line with
its phase and reason on hover. plotly.js is embedded (`include_plotlyjs=True`), so the file opens
offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

JSON = dict[str, Any]
COLOURS = {"primary": "#1f77b4", "canary": "#ff7f0e", "mirror": "#9467bd", "decision": "#888888"}


def write_report(
    path: Path,
    *,
    title: str,
    start: float,
    weights: list[JSON],
    series: dict[str, list[JSON]],
    decisions: list[JSON],
    primary: str,
    canary: str,
    summary_html: str = "",
) -> Path:
    """Write the report to `path` and return it.

    `weights`: rows `{t, primary, canary, mirror}` (t: seconds since `start`), one per change;
    `series`: per Deployment name, rows `{t, success_rate, p99_ms, requests}`;
    `decisions`: rows `{t, phase, canary_weight, reason}`.
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("Traffic weights (VirtualService)", "Success rate (%)", "p99 latency (ms)"),
    )
    ts = [w["t"] for w in weights]
    for key, name in (("primary", "primary"), ("canary", "canary"), ("mirror", "mirror %")):
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=[w[key] for w in weights],
                name=name,
                mode="lines",
                line={
                    "shape": "hv",
                    "color": COLOURS[key],
                    "dash": "dot" if key == "mirror" else "solid",
                },
                legendgroup=key,
            ),
            row=1,
            col=1,
        )
    for side, workload in (("primary", primary), ("canary", canary)):
        rows = series.get(workload, [])
        x = [r["t"] for r in rows]
        hover = [f"{workload}: {r['requests']} requests in 2 s" for r in rows]
        for row, key, label in ((2, "success_rate", "success"), (3, "p99_ms", "p99")):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[r[key] for r in rows],
                    mode="lines+markers",
                    name=f"{side} {label}",
                    marker={"size": 3},
                    text=hover,
                    line={"color": COLOURS[side]},
                    legendgroup=side,
                    showlegend=False,
                ),
                row=row,
                col=1,
            )
    for d in decisions:
        for row in (1, 2, 3):
            fig.add_vline(
                x=d["t"],
                line={"color": COLOURS["decision"], "width": 1, "dash": "dot"},
                row=row,
                col=1,
            )
    fig.add_trace(
        go.Scatter(
            x=[d["t"] for d in decisions],
            y=[104] * len(decisions),
            mode="markers",
            marker={"symbol": "triangle-down", "size": 9, "color": COLOURS["decision"]},
            name="decision",
            hovertext=[f"{d['phase']} {d['canary_weight']}%: {d['reason']}" for d in decisions],
            hoverinfo="text+x",
        ),
        row=1,
        col=1,
    )
    fig.update_yaxes(range=[-2, 108], row=1, col=1, title_text="%")
    fig.update_yaxes(title_text="%", row=2, col=1)
    fig.update_yaxes(title_text="ms", rangemode="tozero", row=3, col=1)
    fig.update_xaxes(title_text="seconds since the demo started", row=3, col=1)
    fig.update_layout(
        title=title,
        height=900,
        template="plotly_white",
        hovermode="closest",
        legend={"orientation": "h", "y": 1.06},
    )
    chart = fig.to_html(full_html=False, include_plotlyjs=True)
    table = "".join(
        f"<tr><td>{d['t']:.1f}</td><td>{html.escape(str(d['phase']))}</td>"
        f"<td>{d['canary_weight']}</td><td>{html.escape(str(d['reason']))}</td></tr>"
        for d in decisions
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}</style></head><body>"
        f"{chart}{summary_html}<h3>Decisions</h3><table><tr><th>t (s)</th><th>phase</th>"
        f"<th>canary %</th><th>reason</th></tr>{table}</table></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
