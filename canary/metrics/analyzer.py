"""The Analyzer: runs every metric of a Canary's analysis for the canary and the primary."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from canary.analysis.results import CheckResult
from canary.api.canary import Canary, Metric
from canary.api.common import parse_duration
from canary.api.metric_template import MetricProvider as ProviderSpec
from canary.api.metric_template import MetricTemplate
from canary.engine.types import TrafficSample, traffic_window
from canary.metrics import promql
from canary.metrics.evaluate import (
    QUERY_ERROR,
    TEMPLATE_ERROR,
    Readings,
    error_result,
    evaluate,
)
from canary.metrics.prometheus import PrometheusProvider
from canary.metrics.results import Reading, Series
from canary.metrics.secrets import SecretSource
from canary.protocols import AnalysisOutcome, MetricProvider, MetricProviderError


class TemplateSource(Protocol):
    """Finds MetricTemplates (the controller reads the Kubernetes API, the CLI reads files)."""

    def get(self, namespace: str, name: str) -> MetricTemplate | None:
        """The template, or None when there is none by that name."""
        ...


class ProviderFactory(Protocol):
    """Makes the MetricProvider a MetricTemplate's `spec.provider` describes."""

    def __call__(self, spec: ProviderSpec, namespace: str) -> MetricProvider: ...


@runtime_checkable
class ReadingProvider(Protocol):
    """A provider that also says why a query had no data (PrometheusProvider does)."""

    def read(self, query: str, at: datetime) -> Reading: ...

    def read_range(self, query: str, start: datetime, end: datetime, step: float) -> Series: ...


class Templates:
    """MetricTemplates held in memory, e.g. read from files; implements TemplateSource."""

    def __init__(self, templates: Iterable[MetricTemplate] = ()) -> None:
        self._by_key = {(t.metadata.namespace, t.metadata.name): t for t in templates}

    def get(self, namespace: str, name: str) -> MetricTemplate | None:
        return self._by_key.get((namespace, name))


class PrometheusProviders:
    """A ProviderFactory that builds PrometheusProviders with credentials from a SecretSource.

    Providers are cached by template namespace and provider spec; `close()` releases them.
    """

    def __init__(self, secrets: SecretSource) -> None:
        self._secrets = secrets
        self._cache: dict[tuple[str, str], PrometheusProvider] = {}

    def __call__(self, spec: ProviderSpec, namespace: str) -> MetricProvider:
        key = (namespace, spec.model_dump_json())
        if key not in self._cache:
            self._cache[key] = PrometheusProvider.from_spec(spec, namespace, self._secrets)
        return self._cache[key]

    def close(self) -> None:
        for provider in self._cache.values():
            provider.close()
        self._cache.clear()


class TemplateProblem(Exception):
    """A template cannot be used; the message is what the condition and event say."""


@dataclass(frozen=True)
class Plan:
    """Where and what to ask for one metric: a rendering function per side and interval."""

    provider: MetricProvider
    render: Callable[[promql.Side, str], str]
    """(side, interval) -> the query."""


class MetricAnalyzer:
    """Implements canary.protocols.Analyzer over a MetricProvider (Prometheus).

    Built-in metrics and the traffic sample use `provider` (the controller's metrics server);
    template metrics use the provider their MetricTemplate names, made by `providers`.
    """

    def __init__(
        self,
        provider: MetricProvider,
        *,
        templates: TemplateSource | None = None,
        providers: ProviderFactory | None = None,
        always_query_primary: bool = False,
    ) -> None:
        self._provider = provider
        self._templates = templates or Templates()
        self._providers = providers
        # For context only (the CLI shows it): the primary's value of a threshold-only metric.
        self._always_query_primary = always_query_primary

    def analyze(
        self, canary: Canary, at: datetime, *, traffic_since: datetime | None = None
    ) -> AnalysisOutcome:
        """Every metric at `at`, and the traffic over [traffic_since, at] (see `traffic`)."""
        results = [self.check(canary, metric, at) for metric in canary.spec.analysis.metrics]
        return AnalysisOutcome(
            results=results, traffic=self.traffic(canary, at, since=traffic_since)
        )

    def check_metrics(
        self, canary: Canary, at: datetime, names: frozenset[str]
    ) -> list[CheckResult]:
        """The metrics named in `names` (a guard tick's), in the spec's order, as analyze() checks
        them; the others are not queried."""
        metrics = canary.spec.analysis.metrics
        return [self.check(canary, metric, at) for metric in metrics if metric.name in names]

    def check(self, canary: Canary, metric: Metric, at: datetime) -> CheckResult:
        """One metric's result; template and query errors become HOLD results with the reason."""
        try:
            plan = self.plan(canary, metric)
            readings = self.read(plan, metric, at)
        except TemplateProblem as problem:
            return error_result(metric, TEMPLATE_ERROR, str(problem))
        except promql.TemplateError as error:
            return error_result(metric, TEMPLATE_ERROR, f"query template: {error}")
        except MetricProviderError as error:
            return error_result(metric, QUERY_ERROR, f"query failed: {error}")
        except Exception as error:  # one broken metric must not stop the others: hold, with why
            return error_result(metric, QUERY_ERROR, f"unexpected {type(error).__name__}: {error}")
        return evaluate(metric, readings)

    def plan(self, canary: Canary, metric: Metric) -> Plan:
        if metric.template_ref is None:
            builtin = promql.BUILTIN_QUERIES[metric.name]
            return Plan(self._provider, renderer(canary, builtin, {}))
        namespace = metric.template_ref.namespace or canary.metadata.namespace
        template = self._templates.get(namespace, metric.template_ref.name)
        if template is None:
            raise TemplateProblem(
                f"MetricTemplate {namespace}/{metric.template_ref.name} not found"
            )
        custom = {**template.spec.variables, **metric.template_variables}
        clashes = sorted(set(custom) & BUILTIN_VARIABLES)
        if clashes:
            raise TemplateProblem(
                f"MetricTemplate {namespace}/{template.metadata.name}: custom variables "
                f"{', '.join(clashes)} clash with built-in ones"
            )
        provider = self._provider
        if self._providers is not None:
            provider = self._providers(template.spec.provider, namespace)
        plan = Plan(provider, renderer(canary, template.spec.query, custom))
        try:
            plan.render("canary", metric.interval)  # fail early, before any query is sent
        except promql.TemplateError as error:
            raise TemplateProblem(
                f"MetricTemplate {namespace}/{template.metadata.name}: {error}"
            ) from None
        return plan

    def read(self, plan: Plan, metric: Metric, at: datetime) -> Readings:
        canary = instant(plan.provider, plan.render("canary", metric.interval), at)
        primary = None
        if metric.compare is not None:
            primary = instant(plan.provider, plan.render("primary", metric.interval), at)
        elif self._always_query_primary:
            try:
                primary = instant(plan.provider, plan.render("primary", metric.interval), at)
            except MetricProviderError as error:
                primary = Reading(None, str(error))  # informational: never holds the metric
        canary_series = primary_series = None
        if metric.judge is not None:
            # Each sample aggregates one step, so samples do not overlap; the window is the
            # metric's interval, ending at `at`.
            step = parse_duration(metric.judge.step)
            start = at - timedelta(seconds=parse_duration(metric.interval))
            canary_series = ranged(
                plan.provider, plan.render("canary", metric.judge.step), start, at, step
            )
            primary_series = ranged(
                plan.provider, plan.render("primary", metric.judge.step), start, at, step
            )
        return Readings(canary, primary, canary_series, primary_series)

    def traffic(
        self, canary: Canary, at: datetime, *, since: datetime | None = None
    ) -> TrafficSample | None:
        """Requests and 5xx of each side; None if Prometheus fails.

        With `since` (the engine's Needs.traffic_since, the sequential test's readingSince) the
        window is `traffic_window(since, at)` and the counts are exact at scrape resolution
        (promql.REQUESTS_SINCE, FAILURES_SINCE over N s, N the whole seconds from `since`, evaluated
        at since + N). Without it, `increase()` over the analysis interval ending at `at`.
        """
        interval = canary.spec.analysis.interval
        queries = (("requests", promql.REQUESTS), ("failures", promql.FAILURES))
        if since is not None:
            queries = (("requests", promql.REQUESTS_SINCE), ("failures", promql.FAILURES_SINCE))
            start, end = traffic_window(since, at)
            seconds = round((end - start).total_seconds())
            if seconds < 1:
                return TrafficSample(0, 0, 0, 0)
            interval, at = f"{seconds}s", end
        counts: dict[str, int] = {}
        try:
            for side in SIDES:
                variables = promql.builtin_variables(canary, side, interval)
                for kind, template in queries:
                    value = self._provider.query(promql.render(template, variables), at)
                    counts[f"{side}_{kind}"] = count(value)
        except (MetricProviderError, promql.TemplateError):
            return None
        return TrafficSample(**counts)


SIDES: tuple[promql.Side, ...] = ("canary", "primary")
BUILTIN_VARIABLES = frozenset(
    ("name", "namespace", "target", "primary", "canary", "service", "interval")
)


def renderer(
    canary: Canary, template: str, custom: Mapping[str, str]
) -> Callable[[promql.Side, str], str]:
    """Renders `template` for a side: `target` is that side's workload, `interval` the range."""

    def render(side: promql.Side, interval: str) -> str:
        variables = {**custom, **promql.builtin_variables(canary, side, interval)}
        return promql.render(template, variables)

    return render


def count(value: float | None) -> int:
    """increase() extrapolates, so counts may come back as floats; no data (or NaN) is zero."""
    if value is None or not math.isfinite(value):
        return 0
    return round(value)


def instant(provider: MetricProvider, query: str, at: datetime) -> Reading:
    if isinstance(provider, ReadingProvider):
        return provider.read(query, at)
    value = provider.query(query, at)
    return Reading(value, "" if value is not None else "no data")


def ranged(
    provider: MetricProvider, query: str, start: datetime, end: datetime, step: float
) -> Series:
    if isinstance(provider, ReadingProvider):
        return provider.read_range(query, start, end, step)
    samples = provider.query_range(query, start, end, step)
    return Series(samples, "" if samples else "no data")
