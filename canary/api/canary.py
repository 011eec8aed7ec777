"""The Canary resource: what to roll out, how traffic moves, and how each step is judged."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from canary.analysis.thresholds import NoDataPolicy
from canary.api.common import (
    INT32_MAX,
    Condition,
    Duration,
    FreeForm,
    IntOrString,
    Model,
    ObjectMeta,
    SecretKeyReference,
    at_least,
    parse_duration,
)

BUILTIN_METRICS = ("request-success-rate", "request-duration")
"""Metrics computed from Istio's standard telemetry without a MetricTemplate."""

MIN_ANALYSIS_INTERVAL = "1s"
"""The shortest analysis interval (for tests and demos; production uses 30s or more)."""

DEFAULT_GUARD_INTERVAL = "30s"
"""How often the sequential test looks between analysis ticks. Twice a 15s scrape (Istio's sample
Prometheus), so every window's increase() sees at least two samples of each side's counters."""

HISTORY_LIMIT = 50
"""How many rollout steps `status.history` keeps (oldest dropped first)."""


class Phase(StrEnum):
    """Where a Canary is in its life. Names follow Flagger's, plus Paused and Aborted."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ABORTED = "Aborted"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class TargetReference(Model):
    """The workload to roll out. Only Deployments are supported."""

    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Deployment"] = "Deployment"
    name: str = Field(min_length=1, max_length=253)


class AutoscalerReference(Model):
    """A HorizontalPodAutoscaler that scales the target; a `-primary` copy scales the primary."""

    api_version: Literal["autoscaling/v2"] = "autoscaling/v2"
    kind: Literal["HorizontalPodAutoscaler"] = "HorizontalPodAutoscaler"
    name: str = Field(min_length=1)


class Retries(Model):
    """Istio HTTPRetry for the generated route."""

    attempts: int = Field(ge=0, le=INT32_MAX)
    per_try_timeout: Duration | None = None
    retry_on: str | None = None


class HeaderOperations(Model):
    """Istio header manipulation for one direction."""

    set: dict[str, str] | None = None
    add: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(Model):
    """Istio Headers: changes to request and response headers on the generated route."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class Rewrite(Model):
    """Istio HTTPRewrite for the generated route."""

    uri: str | None = None
    authority: str | None = None


class ServiceSpec(Model):
    """How the workload is exposed: the Services and the Istio route the controller generates."""

    name: str | None = Field(
        None,
        description="Name of the apex Service and VirtualService; defaults to the target's name.",
    )
    port: int = Field(ge=1, le=65535, description="Port of the generated Services.")
    target_port: IntOrString | None = Field(
        None, description="Container port or port name; defaults to `port`."
    )
    port_name: str = Field("http", description="Name of the Service port.")
    hosts: list[str] = Field(
        default_factory=list,
        description="Extra hosts for the VirtualService; the apex name is always added.",
    )
    gateways: list[str] = Field(
        default_factory=lambda: ["mesh"], description="Istio gateways; defaults to the mesh."
    )
    traffic_policy: FreeForm | None = Field(
        None, description="Istio TrafficPolicy copied into both DestinationRules."
    )
    match: list[FreeForm] = Field(
        default_factory=list, description="Istio HTTPMatchRequests for the generated route."
    )
    retries: Retries | None = None
    timeout: Duration | None = None
    headers: Headers | None = None
    cors_policy: FreeForm | None = None
    rewrite: Rewrite | None = None


class Mirror(Model):
    """A phase before any user traffic moves: the canary gets a copy of live requests."""

    percent: int = Field(
        100, ge=1, le=100, description="Share of live requests copied to the canary."
    )
    iterations: int = Field(
        1,
        ge=1,
        le=INT32_MAX,
        description="Analysis intervals spent mirroring before the first weight step.",
    )


class CanaryStrategy(Model):
    """Shift traffic in weight steps, each gated by analysis."""

    step_weight: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Weight added at each step (used when `stepWeights` is not set).",
    )
    max_weight: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Last canary weight before promotion; default 80 with stepWeight, the last rung with stepWeights.",
    )
    step_weights: list[Annotated[int, Field(ge=1, le=100)]] | None = Field(
        None, min_length=1, description="An explicit ladder of canary weights, strictly increasing."
    )
    step_weight_promotion: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Move traffic back to the promoted primary in steps of this size; unset means all at once.",
    )
    mirror: Mirror | None = None

    @field_validator("step_weights")
    @classmethod
    def _ladder_increases(cls, ladder: list[int] | None) -> list[int] | None:
        if ladder is None:
            return None
        if any(b <= a for a, b in itertools.pairwise(ladder)):
            raise ValueError(f"the ladder must strictly increase, got {ladder}")
        return ladder

    @model_validator(mode="after")
    def _consistent(self) -> CanaryStrategy:
        if self.step_weight is None and self.step_weights is None:
            self.step_weight = DEFAULT_STEP_WEIGHT
        if self.step_weights is not None and self.step_weight is not None:
            raise ValueError("set either stepWeight or stepWeights, not both")
        first = self.step_weights[0] if self.step_weights else self.step_weight
        if self.max_weight is not None and first is not None and self.max_weight < first:
            raise ValueError(f"maxWeight ({self.max_weight}) is below the first step ({first})")
        if (
            self.step_weights is not None
            and self.max_weight is not None
            and self.max_weight < self.step_weights[-1]
        ):
            raise ValueError(
                f"maxWeight ({self.max_weight}) is below the last rung of stepWeights ({self.step_weights[-1]})"
            )
        return self

    def ladder(self) -> list[int]:
        """The canary weights of each step, in order, ending at the maximum weight."""
        if self.step_weights is not None:
            return list(self.step_weights)
        step = self.step_weight or DEFAULT_STEP_WEIGHT
        top = self.max_weight if self.max_weight is not None else DEFAULT_MAX_WEIGHT
        top = max(top, step)
        weights = list(range(step, top, step))
        return [*weights, top]


DEFAULT_STEP_WEIGHT = 20
DEFAULT_MAX_WEIGHT = 80


class BlueGreenStrategy(Model):
    """Run the analysis on the canary with no user traffic for N intervals, then switch all traffic."""

    iterations: int = Field(10, ge=1, le=INT32_MAX)
    mirror: Mirror | None = Field(
        None, description="Copy live traffic to the canary during the iterations."
    )


class ABTestingStrategy(Model):
    """Route the requests that match to the canary for N intervals, then promote."""

    iterations: int = Field(10, ge=1, le=INT32_MAX)
    match: list[FreeForm] = Field(
        min_length=1, description="Istio HTTPMatchRequests selecting the canary's users."
    )


class Strategy(Model):
    """Exactly one of canary, blueGreen or abTesting; canary when none is given."""

    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None
    ab_testing: ABTestingStrategy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Strategy:
        chosen = [
            n for n in ("canary", "blueGreen", "abTesting") if getattr(self, _SNAKE[n]) is not None
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose one strategy, got {', '.join(chosen)}")
        if not chosen:
            self.canary = CanaryStrategy()
        return self

    @property
    def kind(self) -> Literal["canary", "blueGreen", "abTesting"]:
        if self.blue_green is not None:
            return "blueGreen"
        if self.ab_testing is not None:
            return "abTesting"
        return "canary"


_SNAKE = {"canary": "canary", "blueGreen": "blue_green", "abTesting": "ab_testing"}


class ThresholdRange(Model):
    """Bounds on the canary's own value: fail below min or above max (Flagger's semantics)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class Comparison(Model):
    """Bounds on the canary's value relative to the primary's."""

    mode: Literal["ratio", "difference"] = Field(
        "ratio", description="canary/primary or canary-primary."
    )
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Comparison:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class EffectSize(Model):
    """Kayenta's effect-size bounds for the statistical judge."""

    measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float = 1.0
    allowed_decrease: float = 1.0
    critical_increase: float | None = None
    critical_decrease: float | None = None


class Judge(Model):
    """A Mann-Whitney comparison of the canary's samples with the primary's (Kayenta's judge)."""

    direction: Literal["increase", "decrease", "either"] = "either"
    tolerance: float = Field(0.25, ge=0)
    confidence: float = Field(0.98, gt=0, lt=1)
    nan_strategy: Literal["remove", "replace"] = "remove"
    outliers: Literal["keep", "remove"] = "keep"
    effect_size: EffectSize | None = None
    step: Duration = Field(
        "30s", description="Resolution of the samples taken over the metric's interval."
    )


class TemplateReference(Model):
    """A MetricTemplate by name; the namespace defaults to the Canary's."""

    name: str = Field(min_length=1)
    namespace: str | None = None


class Metric(Model):
    """One check run at every analysis interval (and, marked `guard`, at every guard tick)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    template_ref: TemplateReference | None = Field(
        None, description="A MetricTemplate; without it `name` must be a built-in metric."
    )
    template_variables: dict[str, str] = Field(default_factory=dict)
    interval: Duration = Field("1m", description="Range over which the query aggregates.")
    threshold_range: ThresholdRange | None = None
    compare: Comparison | None = Field(
        None, description="Bounds relative to the primary's value of the same query."
    )
    judge: Judge | None = Field(
        None, description="A statistical comparison with the primary's samples."
    )
    no_data: NoDataPolicy = Field(
        NoDataPolicy.HOLD, description="fail, hold (neither advance nor count a failure) or pass."
    )
    critical: bool = Field(
        False, description="A failure rolls back at once, whatever the threshold."
    )
    guard: bool = Field(
        False,
        description="Also checked at every guard tick (analysis.guardInterval), between analysis "
        "ticks: a measured failure there, or at an analysis tick, rolls back at once, as "
        "`critical` does. No data and query errors never roll back on a guard tick. Each look is "
        "a new chance of a false alarm, so use guards for gross bounds only (circuit breakers: "
        "an error rate above 50%, a p99 above 5 s).",
    )

    @model_validator(mode="after")
    def _known_and_judged(self) -> Metric:
        if self.template_ref is None and self.name not in BUILTIN_METRICS:
            raise ValueError(
                f"unknown built-in metric {self.name!r}: use one of {', '.join(BUILTIN_METRICS)} or set templateRef"
            )
        if self.threshold_range is None and self.compare is None and self.judge is None:
            raise ValueError("set thresholdRange, compare or judge")
        return self


class EvidenceRequirement(StrEnum):
    """Which weight changes wait for a conclusive "no regression of at least minEffect"."""

    NONE = "none"
    """None: steps and promotion follow the step durations (maxFinalStepDuration may extend the
    last step)."""
    PROMOTION = "promotion"
    """Promotion waits for conclusive evidence, at most evidenceTimeout."""
    EVERY_STEP = "everyStep"
    """Every step and the promotion wait for conclusive evidence, each at most evidenceTimeout."""


class EvidenceTimeoutAction(StrEnum):
    """What happens when the evidence is still inconclusive after evidenceTimeout."""

    HOLD = "hold"
    """Stay at the current weight (Warning Event, condition EvidenceConclusive=False) until the
    evidence concludes, or an operator promotes or aborts."""
    PROMOTE = "promote"
    """Take the step (or promote) anyway, as maxFinalStepDuration does."""
    ROLLBACK = "rollback"
    """Roll back: no evidence of safety is taken as a failure."""


DEFAULT_REQUIRE_EVIDENCE = EvidenceRequirement.NONE
"""Provisional: old specs keep their meaning; the benchmark decides whether promotion should
require evidence by default (one constant, changed here only)."""
DEFAULT_EVIDENCE_TIMEOUT = "30m"
"""How long a step waits for evidence when neither evidenceTimeout nor maxFinalStepDuration is set."""


class SequentialTest(Model):
    """Decide a step as soon as the evidence allows (a sequential test of canary vs primary failures)."""

    enabled: bool = True
    false_rollback_rate: float = Field(0.01, gt=0, lt=0.5)
    false_promotion_rate: float = Field(0.05, gt=0, lt=0.5)
    min_effect: float = Field(
        2.0, gt=1, description="Ratio of the canary's error rate to the primary's worth detecting."
    )
    min_step_duration: Duration | None = Field(
        None, description="No step advances sooner than this; unset, the analysis interval rules."
    )
    max_step_duration: Duration | None = Field(
        None, description="A step never lasts longer than this; defaults to the interval."
    )
    max_final_step_duration: Duration | None = Field(
        None,
        description="The last step before promotion ends early only when the absence of a "
        "regression is conclusive, and never lasts longer than this; defaults to maxStepDuration. "
        "With requireEvidence none it is the same as requireEvidence promotion, evidenceTimeout "
        "this duration and onEvidenceTimeout promote.",
    )
    guard_interval: Duration = Field(
        DEFAULT_GUARD_INTERVAL,
        description="How often the test looks at the traffic between analysis ticks, rolling back "
        "at once on a conclusive regression. Each look reads the run so far (four instant "
        "queries), so any cadence keeps the test's error rates; below the Prometheus scrape "
        "interval it gains nothing. At or above the analysis interval the test looks only at "
        "analysis ticks. This is also the cadence of the metrics marked `guard` (even with the "
        "test disabled) unless analysis.guardInterval is set, which replaces it.",
        json_schema_extra=at_least(MIN_ANALYSIS_INTERVAL),
    )
    require_evidence: EvidenceRequirement = Field(
        DEFAULT_REQUIRE_EVIDENCE,
        description="none, promotion or everyStep: which weight changes wait for a conclusive "
        "absence of a regression of at least minEffect.",
    )
    evidence_timeout: Duration | None = Field(
        None,
        description="How long a step waits for conclusive evidence, from its start; defaults to "
        f"maxFinalStepDuration, else {DEFAULT_EVIDENCE_TIMEOUT}.",
    )
    on_evidence_timeout: EvidenceTimeoutAction = Field(
        EvidenceTimeoutAction.HOLD,
        description="hold (stay at the current weight until the evidence concludes or an operator "
        "promotes or aborts), promote, or rollback.",
    )

    @field_validator("guard_interval")
    @classmethod
    def _guard_at_least_a_second(cls, value: str) -> str:
        if parse_duration(value) < parse_duration(MIN_ANALYSIS_INTERVAL):
            raise ValueError(f"must be at least {MIN_ANALYSIS_INTERVAL}")
        return value


class WebhookType(StrEnum):
    """When a webhook runs (Flagger's eight types)."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


class Webhook(Model):
    """An HTTP call made at a point of the rollout; gates hold the rollout until they answer 2xx."""

    name: str = Field(min_length=1)
    type: WebhookType = WebhookType.ROLLOUT
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = "10s"
    retries: int = Field(0, ge=0, le=10)
    metadata: dict[str, str] = Field(default_factory=dict)
    mute_alert: bool = False
    signing_secret_ref: SecretKeyReference | None = Field(
        None, description="Sign the body with HMAC-SHA256 using this key."
    )


class Analysis(Model):
    """How each step is judged."""

    interval: Duration = Field(
        "1m",
        description="Time between checks; 1s is allowed for tests and demos, production should use 30s or more.",
        json_schema_extra=at_least(MIN_ANALYSIS_INTERVAL),
    )
    threshold: int = Field(
        5, ge=1, le=INT32_MAX, description="Failed checks that roll the canary back."
    )
    failure_window: int | None = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description="Count failed checks over the last N checks only; unset counts all checks of the run.",
    )
    min_requests: int = Field(
        0,
        ge=0,
        le=INT32_MAX,
        description="Fewer canary requests in an interval is low traffic: the check holds.",
    )
    metrics: list[Metric] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)
    guard_interval: Duration | None = Field(
        None,
        description="How often the guard looks between analysis ticks: the metrics marked "
        "`guard` and the sequential test, together. Unset, sequential.guardInterval (30s by "
        "default), also when the sequential test is disabled; set, it replaces "
        "sequential.guardInterval. At or above `interval` the guard looks only at analysis ticks.",
        json_schema_extra=at_least(MIN_ANALYSIS_INTERVAL),
    )
    sequential: SequentialTest = Field(
        default_factory=SequentialTest,
        description="On by default: rolls back as soon as a regression is conclusive; `enabled: false` turns it off.",
    )

    @field_validator("interval", "guard_interval")
    @classmethod
    def _interval_at_least_a_second(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < parse_duration(MIN_ANALYSIS_INTERVAL):
            raise ValueError(f"must be at least {MIN_ANALYSIS_INTERVAL}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Analysis:
        for label, names in (
            ("metric", [m.name for m in self.metrics]),
            ("webhook", [w.name for w in self.webhooks]),
        ):
            duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
            if duplicates:
                raise ValueError(f"duplicate {label} names: {', '.join(duplicates)}")
        if self.failure_window is not None and self.failure_window < self.threshold:
            raise ValueError(
                f"failureWindow ({self.failure_window}) is smaller than threshold ({self.threshold})"
            )
        return self

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def guard_seconds(self) -> float:
        """The guard's cadence in seconds: guardInterval, else sequential.guardInterval."""
        return parse_duration(self.guard_interval or self.sequential.guard_interval)

    @property
    def guard_metrics(self) -> frozenset[str]:
        """Names of the metrics marked `guard`."""
        return frozenset(metric.name for metric in self.metrics if metric.guard)


class Severity(StrEnum):
    """Which notifications an alert provider receives: info gets all, warn gets warn and error."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Alert(Model):
    """Send notifications about this Canary through an AlertProvider."""

    name: str = Field(min_length=1)
    severity: Severity = Severity.INFO
    provider_ref: TemplateReference = Field(
        description="An AlertProvider; `namespace` only where the controller allows other ones."
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Extra facts for this Canary's messages (environment, region, runbook link).",
    )


class ReadyThresholds(Model):
    """Percent of updated replicas that must be available for a Deployment to count as ready."""

    primary: int = Field(100, ge=1, le=100)
    canary: int = Field(100, ge=1, le=100)


class CanarySpec(Model):
    """The desired rollout."""

    target_ref: TargetReference
    autoscaler_ref: AutoscalerReference | None = None
    service: ServiceSpec
    strategy: Strategy = Field(default_factory=Strategy)
    analysis: Analysis = Field(default_factory=Analysis)
    alerts: list[Alert] = Field(default_factory=list)
    ready_thresholds: ReadyThresholds = Field(default_factory=ReadyThresholds)
    progress_deadline_seconds: int = Field(
        600,
        ge=1,
        le=INT32_MAX,
        description="Time a Deployment may stay not ready before the rollout is rolled back.",
    )
    skip_analysis: bool = Field(
        False, description="Promote a new revision at once, once it is ready."
    )
    suspend: bool = Field(False, description="Stop acting on this Canary until unset.")
    revert_on_deletion: bool = Field(
        False, description="On deletion, restore the target and any taken-over objects."
    )


class MetricStatus(Model):
    """The latest result of one analysis metric."""

    name: str
    verdict: Literal["Pass", "Fail", "NoData", "Hold"]
    value: float | None = None
    primary_value: float | None = None
    threshold: str = ""
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class HistoryEntry(Model):
    """One step of the rollout."""

    time: datetime
    phase: Phase
    canary_weight: int = Field(ge=0, le=100)
    mirror_weight: int = Field(0, ge=0, le=100)
    verdict: str
    reason: str = ""


class SequentialState(Model):
    """Evidence the sequential test has gathered in this run."""

    log_likelihood_ratio: float = 0.0
    canary_requests: int = 0
    canary_failures: int = 0
    primary_requests: int = 0
    primary_failures: int = 0
    read_until: datetime | None = Field(
        None,
        description="End of the last traffic read (unset until the first step sends traffic to "
        "the canary).",
    )
    reading_since: datetime | None = Field(
        None,
        description="When the first step sent traffic to the canary: every read covers the run "
        "from here, and the test counts what is new since the last read.",
    )
    ratios: list[float] = Field(
        default_factory=list, description="The error-rate ratios of the regression side's mixture."
    )
    log_likelihood_ratios: list[float] = Field(
        default_factory=list,
        description="The cumulative log-likelihood ratio at each of `ratios` (the first is "
        "logLikelihoodRatio).",
    )
    canary_requests_since_check: int = Field(
        0, ge=0, description="Canary requests read since the last analysis tick (minRequests)."
    )
    primary_requests_since_check: int = Field(
        0, ge=0, description="Primary requests read since the last analysis tick (minRequests)."
    )


class RequestOutcome(StrEnum):
    """What the controller did with a manual request."""

    ACCEPTED = "Accepted"
    REFUSED = "Refused"


class LastRequest(Model):
    """The last manual request the controller saw (canary.dev/request) and what it did with it."""

    id: str = Field(description="The annotation's value: `<kind>` or `<kind>/<id>`.")
    kind: str = Field(description="The kind asked for, as written (also when unknown).")
    outcome: RequestOutcome = Field(description="Accepted (acted on) or Refused.")
    reason: str = Field("", description="What was done, or why the request was refused.")
    time: datetime | None = Field(None, description="When the controller answered.")


class BlastRadius(Model):
    """User requests the canary served during the current run, and how many of them failed."""

    requests: int = Field(0, ge=0, description="User requests the canary served in this run.")
    failures: int = Field(0, ge=0, description="Of those, the requests that failed (5xx).")


class CanaryStatus(Model):
    """What the controller observed and decided. Written only through the status subresource."""

    phase: Phase | None = None
    canary_weight: int = Field(0, ge=0, le=100)
    mirror_weight: int = Field(0, ge=0, le=100)
    failed_checks: int = Field(0, ge=0)
    iterations: int = Field(0, ge=0)
    step: int = Field(
        0, ge=0, description="Index of the current weight step (0 = before the first step)."
    )
    check_results: list[bool] = Field(
        default_factory=list, description="Recent checks of this run, True when passed."
    )
    last_applied_spec: str | None = None
    last_promoted_spec: str | None = None
    tracked_configs: dict[str, str] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)
    metrics: list[MetricStatus] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    sequential: SequentialState | None = None
    blast_radius: BlastRadius | None = Field(
        None, description="Canary requests served and failed over the run (from the analysis)."
    )
    phase_started_at: datetime | None = None
    step_started_at: datetime | None = None
    last_analysis_at: datetime | None = None
    last_guard_at: datetime | None = Field(
        None,
        description="When the guard metrics were last checked (at a guard or an analysis tick); "
        "unset before the run's first step and when no metric is a guard.",
    )
    not_ready_since: datetime | None = None
    handled_request: str | None = Field(None, description="Id of the last manual request acted on.")
    last_request: LastRequest | None = Field(
        None, description="The last manual request seen, accepted or refused, and why."
    )
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


class Canary(Model):
    """A progressive rollout of one Deployment."""

    api_version: Literal["canary.dev/v1alpha1"] = "canary.dev/v1alpha1"
    kind: Literal["Canary"] = "Canary"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: CanarySpec
    status: CanaryStatus = Field(default_factory=CanaryStatus)
