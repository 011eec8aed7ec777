"""The field reference of every canary.dev kind, walked from the pydantic models that define the CRDs."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from canary.api.canary import DEFAULT_MAX_WEIGHT, DEFAULT_STEP_WEIGHT
from canary.api.common import API_VERSION, DURATION_PATTERN, FreeForm, ObjectMeta
from canary.api.crdgen import KINDS, CrdKind

# Words for fields whose model gives no description, keyed "ModelClass.field_name". A description
# on the model wins; tests/docs check that every key still names a field of the models.
NOTES: dict[str, str] = {
    "Canary.api_version": "The API group and version.",
    "Canary.kind": "The kind.",
    "Canary.metadata": "Standard Kubernetes metadata (name, namespace, labels, annotations).",
    "MetricTemplate.api_version": "The API group and version.",
    "MetricTemplate.kind": "The kind.",
    "MetricTemplate.metadata": "Standard Kubernetes metadata (name, namespace, labels, annotations).",
    "AlertProvider.api_version": "The API group and version.",
    "AlertProvider.kind": "The kind.",
    "AlertProvider.metadata": "Standard Kubernetes metadata (name, namespace, labels, annotations).",
    "ServiceSpec.retries": "Istio HTTPRetry copied to the generated route.",
    "ServiceSpec.timeout": "Istio route timeout copied to the generated route.",
    "ServiceSpec.headers": "Istio header changes copied to the generated route.",
    "ServiceSpec.cors_policy": "Istio CorsPolicy copied to the generated route.",
    "ServiceSpec.rewrite": "Istio HTTPRewrite copied to the generated route.",
    "CanaryStrategy.mirror": "Mirror live traffic to the canary before the first weight step.",
    "BlueGreenStrategy.iterations": "Analysis intervals run with no user traffic on the canary.",
    "ABTestingStrategy.iterations": "Analysis intervals run with the matching users on the canary.",
    "Strategy.canary": "Weight steps (the default strategy).",
    "Strategy.blue_green": "Analyse with no user traffic, then switch all traffic at once.",
    "Strategy.ab_testing": "Send the users that match to the canary, then promote.",
    "ThresholdRange.min": "Fail when the value is below this (inclusive bound).",
    "ThresholdRange.max": "Fail when the value is above this (inclusive bound).",
    "Comparison.min": "Fail when the ratio or difference is below this.",
    "Comparison.max": "Fail when the ratio or difference is above this.",
    "EffectSize.measure": "meanRatio = mean(canary)/mean(primary); cles = P(canary > primary) + ½P(tie).",
    "EffectSize.allowed_increase": "A High label needs an effect of at least this (cles: default 0.5).",
    "EffectSize.allowed_decrease": "A Low label needs an effect of at most this (cles: default 0.5).",
    "EffectSize.critical_increase": "A critical metric is flagged critical when High with an effect of at least this.",
    "EffectSize.critical_decrease": "A critical metric is flagged critical when Low with an effect of at most this.",
    "Judge.direction": "Which change is a failure: an increase, a decrease or either.",
    "Judge.tolerance": "Half-width of the band around the estimate, as a fraction of |estimate|.",
    "Judge.confidence": "Confidence level of the Mann-Whitney interval.",
    "Judge.nan_strategy": "remove NaN samples, or replace them with 0.",
    "Judge.outliers": "keep outliers, or remove those beyond the IQR and P1/P99 fences.",
    "Judge.effect_size": "Kayenta's effect-size bounds.",
    "TemplateReference.name": "Name of the referenced object.",
    "TemplateReference.namespace": "Namespace of the referenced object; defaults to the Canary's.",
    "Metric.name": "A built-in metric (request-success-rate, request-duration) or any name with templateRef.",
    "Metric.template_variables": "Values of custom template variables; they override the template's defaults.",
    "Metric.threshold_range": "Bounds on the canary's own value (Flagger's thresholdRange).",
    "SequentialTest.enabled": "Run Wald's sequential test of the canary's failures against the primary's.",
    "SequentialTest.false_rollback_rate": 'Alpha: the chance of concluding "regression" when there is none.',
    "SequentialTest.false_promotion_rate": 'Beta: the chance of concluding "no regression" at minEffect.',
    "Webhook.name": "Unique among the Canary's webhooks.",
    "Webhook.type": "When the hook runs.",
    "Webhook.url": "http(s) address the JSON body is POSTed to.",
    "Webhook.timeout": "Timeout of each attempt.",
    "Webhook.retries": "Retries on a timeout, an unreachable host, 408/425/429 or 5xx.",
    "Webhook.metadata": "Passed to the hook in the body's `metadata`.",
    "Webhook.mute_alert": "Do not send alerts about this hook's failures.",
    "Analysis.metrics": "Checks run at every analysis interval.",
    "Analysis.webhooks": "HTTP calls at points of the rollout; gates hold it until they answer 2xx.",
    "Alert.name": "Unique name of this alert.",
    "Alert.severity": "info gets every notification, warn gets warn and error, error only errors.",
    "Alert.provider_ref": "The AlertProvider to send through.",
    "ReadyThresholds.primary": "Percent of the primary's replicas that must be updated and available.",
    "ReadyThresholds.canary": "Percent of the canary's replicas that must be updated and available.",
    "CanarySpec.target_ref": "The Deployment to roll out.",
    "CanarySpec.autoscaler_ref": "An autoscaling/v2 HorizontalPodAutoscaler of the target; the primary gets a copy.",
    "CanarySpec.service": "The Services and Istio route the controller generates.",
    "CanarySpec.strategy": "How traffic moves.",
    "CanarySpec.analysis": "How each step is judged.",
    "CanarySpec.alerts": "Who is told (delivery is not wired yet: see Notifications).",
    "CanarySpec.ready_thresholds": "When a Deployment counts as ready.",
    "TargetReference.name": "Name of the Deployment.",
    "TargetReference.api_version": "Only apps/v1.",
    "TargetReference.kind": "Only Deployment.",
    "AutoscalerReference.name": "Name of the HorizontalPodAutoscaler.",
    "AutoscalerReference.api_version": "Only autoscaling/v2.",
    "AutoscalerReference.kind": "Only HorizontalPodAutoscaler.",
    "Retries.attempts": "Istio retry attempts.",
    "Retries.per_try_timeout": "Istio per-try timeout.",
    "Retries.retry_on": "Istio retry conditions, e.g. 5xx,connect-failure.",
    "HeaderOperations.set": "Headers to set (overwrite).",
    "HeaderOperations.add": "Headers to append.",
    "HeaderOperations.remove": "Headers to remove.",
    "Headers.request": "Changes to request headers.",
    "Headers.response": "Changes to response headers.",
    "Rewrite.uri": "Istio URI rewrite.",
    "Rewrite.authority": "Istio authority (Host) rewrite.",
    "MetricStatus.name": "The metric's name.",
    "MetricStatus.verdict": "Pass, Fail, NoData or Hold.",
    "MetricStatus.value": "The canary's value.",
    "MetricStatus.primary_value": "The primary's value, when the metric compares or judges.",
    "MetricStatus.threshold": "The threshold in words.",
    "MetricStatus.reason": "One sentence on why.",
    "MetricStatus.evidence": "Sample sizes, interval, estimate, effect size, p-value, errors.",
    "HistoryEntry.time": "When the step was taken.",
    "HistoryEntry.phase": "The phase after the step.",
    "HistoryEntry.canary_weight": "The canary's weight after the step.",
    "HistoryEntry.mirror_weight": "The percent mirrored after the step.",
    "HistoryEntry.verdict": "The step's verdict.",
    "HistoryEntry.reason": "Why.",
    "SequentialState.log_likelihood_ratio": "The cumulative log-likelihood ratio of this run.",
    "SequentialState.canary_requests": "Canary requests counted in this run.",
    "SequentialState.canary_failures": "Canary failures counted in this run.",
    "SequentialState.primary_requests": "Primary requests counted in this run.",
    "SequentialState.primary_failures": "Primary failures counted in this run.",
    "CanaryStatus.phase": "Where the Canary is in its life (see Concepts: phases).",
    "CanaryStatus.canary_weight": "Percent of user traffic on the canary.",
    "CanaryStatus.mirror_weight": "Percent of live traffic mirrored to the canary.",
    "CanaryStatus.failed_checks": "Failed checks counted in this run (or window).",
    "CanaryStatus.iterations": "Analysis intervals run in this run.",
    "CanaryStatus.last_applied_spec": "Revision of the target last rolled out.",
    "CanaryStatus.last_promoted_spec": "Revision of the target last promoted.",
    "CanaryStatus.tracked_configs": "Checksums of the ConfigMaps and Secrets the target uses, keyed configmap/<name> or secret/<name>.",
    "CanaryStatus.conditions": "Ready, Promoted, RollingOut, MetricsAvailable and AnalysisStarted (metav1.Condition shape).",
    "CanaryStatus.metrics": "The latest result of every metric.",
    "CanaryStatus.history": "The last 50 steps.",
    "CanaryStatus.sequential": "The evidence of the sequential test.",
    "CanaryStatus.phase_started_at": "When the current phase began.",
    "CanaryStatus.step_started_at": "When the current step began.",
    "CanaryStatus.last_analysis_at": "When the analysis last ran.",
    "CanaryStatus.not_ready_since": "Since when a Deployment has been not ready.",
    "CanaryStatus.message": "Why the Canary is where it is.",
    "CanaryStatus.last_transition_time": "When the phase last changed.",
    "CanaryStatus.observed_generation": "The Canary generation this status is about.",
    "Condition.type": "The condition's type.",
    "Condition.status": "True, False or Unknown.",
    "Condition.reason": "A CamelCase reason.",
    "Condition.message": "Details in words.",
    "Condition.last_transition_time": "When the status last changed.",
    "Condition.observed_generation": "The generation the condition is about.",
    "SecretKeyReference.name": "Name of a Secret in the object's namespace.",
    "SecretKeyReference.key": "Key in the Secret; each field says its default key.",
    "BasicAuth.secret_ref": "Secret with keys `username` and `password`.",
    "TLSOptions.insecure_skip_verify": "Do not verify the server's certificate.",
    "TLSOptions.ca_secret_ref": "Secret with the CA bundle (key `ca.crt` unless set).",
    "TLSOptions.server_name": "Name to verify when the certificate's differs from the address.",
    "MetricProvider.type": "The metric back end.",
    "MetricProvider.bearer_token_secret_ref": "Secret with a bearer token (key `token` unless set).",
    "MetricProvider.basic_auth": "Basic authentication from a Secret.",
    "MetricProvider.tls": "TLS settings.",
    "MetricTemplateSpec.provider": "Where and how to run the query.",
    "AlertProviderSpec.type": "The destination's kind.",
    "AlertProviderSpec.channel": "Channel to post to, where the destination takes one.",
    "AlertProviderSpec.username": "Name the messages are posted as.",
    "AlertProviderSpec.proxy": "HTTP(S) proxy for the call.",
    "AlertProviderSpec.timeout": "Timeout of one call.",
}


# Defaults that a validator or the controller fills in, which the field's own default cannot show.
COMPUTED_DEFAULTS: dict[str, str] = {
    "Strategy.canary": "`{}` when no strategy is given",
    "CanaryStrategy.step_weight": f"`{DEFAULT_STEP_WEIGHT}` when `stepWeights` is unset",
    "CanaryStrategy.max_weight": f"`{DEFAULT_MAX_WEIGHT}` with `stepWeight`; the last rung with `stepWeights`",
    "ServiceSpec.name": "the target's name",
    "ServiceSpec.target_port": "`port`",
    "SequentialTest.max_step_duration": "the analysis interval",
    "SequentialTest.max_final_step_duration": "`maxStepDuration`",
    "TemplateReference.namespace": "the Canary's namespace",
}


@dataclass(frozen=True)
class Shape:
    """A field's type in words, and the model to describe below it (with the path suffix)."""

    text: str
    nested: type[BaseModel] | None = None
    suffix: str = ""


def render_crd_pages() -> dict[str, str]:
    """`crds/<kind>.md` to Markdown for every kind of the API."""
    return {f"crds/{kind.singular}.md": render_kind(kind) for kind in KINDS}


def render_kind(kind: CrdKind) -> str:
    """The reference page of one kind: a section per object path with a table of its fields."""
    lines = [
        f"# {kind.kind}",
        "",
        f"`apiVersion: {API_VERSION}`, `kind: {kind.kind}`, namespaced; plural `{kind.plural}`, "
        f"short name `{', '.join(kind.short_names)}`. {_doc(kind.model)}",
        "",
    ]
    columns = [c["name"] for c in kind.printer_columns if not c.get("priority")]
    wide = [c["name"] for c in kind.printer_columns if c.get("priority")]
    if columns:
        shown = ", ".join(columns)
        extra = f" (`-o wide` adds {', '.join(wide)})" if wide else ""
        lines += [f"`kubectl get {kind.plural}` shows {shown} and Age{extra}.", ""]
    lines += [
        "Every field below is read from the pydantic model, as the CRD is; unknown fields are "
        "rejected. Durations are Go-style strings: `500ms`, `30s`, `1m`, `1h30m`.",
        "",
    ]
    for path, model in _sections(kind.model, ""):
        lines += _section(path, model)
    return "\n".join(lines).rstrip() + "\n"


def models_of(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and every model below it, once each."""
    seen: dict[type[BaseModel], None] = {}
    for _, found in _sections(model, ""):
        seen.setdefault(found)
    return list(seen)


def undocumented_fields() -> list[str]:
    """`Model.field` of every field of every kind that has no words in the reference."""
    return sorted(
        f"{model.__name__}.{name}"
        for kind in KINDS
        for model in models_of(kind.model)
        for name, info in model.model_fields.items()
        if not _description(model, name, info)
    )


def _sections(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    """(path, model) of the model and of every object below it, depth first."""
    found = [(path, model)]
    for name, info in model.model_fields.items():
        shape = _shape(info)
        if shape.nested is not None:
            child = f"{path}.{_wire(name, info)}" if path else _wire(name, info)
            found += _sections(shape.nested, child + shape.suffix)
    return found


def _section(path: str, model: type[BaseModel]) -> list[str]:
    title = f"`{path}`" if path else "Top level"
    lines = [f"## {title} {{ #{_anchor(path)} }}", "", _doc(model), ""]
    lines += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        shape = _shape(info)
        wire = _wire(name, info)
        child = f"{path}.{wire}" if path else wire
        kind = f"[{shape.text}](#{_anchor(child + shape.suffix)})" if shape.nested else shape.text
        limits = _constraints(info)
        text = _description(model, name, info)
        if limits:
            text = f"{text} Limits: {limits}." if text else f"Limits: {limits}."
        default = COMPUTED_DEFAULTS.get(f"{model.__name__}.{name}") or _default(info)
        lines.append(f"| `{wire}` | {kind} | {_cell(default)} | {_cell(text)} |")
    return [*lines, ""]


def _anchor(path: str) -> str:
    cleaned = path.replace("[]", "").replace(".", "-")
    return cleaned.lower() if cleaned else "top"


def _wire(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return info.description
    for owner in model.__mro__:
        note = NOTES.get(f"{owner.__name__}.{name}")
        if note:
            return note
    nested = _shape(info).nested
    return _doc(nested) if nested else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shape(info: FieldInfo) -> Shape:
    if _is_duration(info.annotation, info):
        return Shape("duration")
    return _shape_of(info.annotation)


def _shape_of(annotation: Any) -> Shape:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        if _is_duration(annotation, None):
            return Shape("duration")
        return _shape_of(args[0])
    if origin in (typing.Union, types.UnionType):
        names = sorted(_shape_of(a).text for a in args)
        return Shape(" or ".join(names))
    if origin is list:
        item = _shape_of(args[0])
        return Shape(f"list of {item.text}", item.nested, item.suffix + "[]")
    if origin is dict:
        value = _shape_of(args[1])
        return Shape(f"map of string to {value.text}", value.nested, value.suffix)
    if origin is Literal and len(args) == 1:
        return Shape(f"`{args[0]}`")
    if origin is Literal:
        return Shape("one of " + ", ".join(f"`{a}`" for a in args))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return Shape("one of " + ", ".join(f"`{m.value}`" for m in annotation))
    if isinstance(annotation, type) and issubclass(annotation, ObjectMeta):
        return Shape(
            "[ObjectMeta](https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/)"
        )
    if isinstance(annotation, type) and issubclass(annotation, FreeForm):
        return Shape("object (copied verbatim)")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Shape("object", annotation)
    simple = {int: "integer", float: "number", str: "string", bool: "boolean"}
    if annotation in simple:
        return Shape(simple[annotation])
    if annotation is datetime:
        return Shape("timestamp (RFC 3339)")
    if annotation is Any:
        return Shape("any")
    # A type this page has no words for yet: its own name, rather than no page at all.
    return Shape(str(getattr(annotation, "__name__", annotation)).replace("typing.", ""))


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
        return typing.Union[tuple(rest)]  # noqa: UP007 - rebuilt from a runtime tuple
    return annotation


def _is_duration(annotation: Any, info: FieldInfo | None) -> bool:
    """A `Duration` field: its pattern is the duration pattern (on the field or inside Optional)."""
    patterns = []
    if info is not None:
        extra = info.json_schema_extra
        if isinstance(extra, dict):
            patterns.append(extra.get("pattern"))
        patterns += [getattr(m, "pattern", None) for m in info.metadata]
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated:
            return _is_duration(arg, None)
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, FieldInfo) and isinstance(meta.json_schema_extra, dict):
                patterns.append(meta.json_schema_extra.get("pattern"))
    return DURATION_PATTERN in patterns


def _constraints(info: FieldInfo) -> str:
    words = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            words.append(f"≥ {meta.ge}")
        elif isinstance(meta, annotated_types.Gt):
            words.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Le):
            words.append(f"≤ {meta.le}")
        elif isinstance(meta, annotated_types.Lt):
            words.append(f"< {meta.lt}")
        elif isinstance(meta, annotated_types.MinLen):
            words.append(f"length ≥ {meta.min_length}")
        elif isinstance(meta, annotated_types.MaxLen):
            words.append(f"length ≤ {meta.max_length}")
        else:
            pattern = getattr(meta, "pattern", None)
            if pattern and pattern != DURATION_PATTERN:
                words.append(f"matches `{pattern}`")
    return ", ".join(words)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        return "its fields' defaults"
    if isinstance(value, Enum):
        value = value.value
    return f"`{json.dumps(value, ensure_ascii=False)}`"
