"""The controller's flags and Prometheus metrics, read from its parser and its metrics registry."""

from __future__ import annotations

from prometheus_client.metrics import MetricWrapperBase

from canary.commands.controller import VARIABLES
from canary.controller.metrics import ControllerMetrics
from canary.docgen.cli import arguments_table, parser_for


def render_controller() -> str:
    """The generated part of the controller reference: flags, then metrics."""
    lines = [
        "# Controller configuration and metrics",
        "",
        "Generated from the parser of `canary controller` and from the controller's metrics "
        "registry (`canary/controller/metrics.py`). The endpoints, Events and conditions are "
        "described in [Events, conditions and endpoints](events-and-conditions.md).",
        "",
        "## Configuration: flags and environment variables { #configuration }",
        "",
        "Every option can be given as a flag or as an environment variable; a flag wins over its "
        "variable. A variable's value is checked as the flag's is, and an invalid one stops the "
        "controller with an error that names the variable. `CANARY_NAMESPACES` is a "
        "comma-separated list; a switch's variable is `true` or `false`. In `deploy/`, the "
        "variables are set in `deploy/base/config.env` (the ConfigMap `canary-controller`).",
        "",
        *arguments_table(parser_for(["controller"]), VARIABLES),
        "",
        "## Metrics { #metrics }",
        "",
        "Served at `/metrics` on `--metrics-addr`, in the Prometheus text format. The names follow "
        "Flagger's `flagger_*` metrics with the prefix `canary_`.",
        "",
        "| metric | type | labels | meaning |",
        "|---|---|---|---|",
    ]
    for metric in _metrics(ControllerMetrics()):
        name, kind = metric._name, metric._type
        if kind == "counter":
            name += "_total"
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        lines.append(f"| `{name}` | {kind} | {labels} | {metric._documentation} |")
    return "\n".join(lines).rstrip() + "\n"


def _metrics(metrics: ControllerMetrics) -> list[MetricWrapperBase]:
    """Every metric the controller defines, in the order it defines them."""
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]
