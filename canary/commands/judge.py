"""`canary judge`: the Kayenta-compatible judge as a filter, one JSON document in, one out."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from canary.analysis.classifier import (
    Classification,
    Direction,
    JudgeOptions,
    MetricConfig,
    effect_size_of,
)
from canary.analysis.kayenta import MetricInput, judge
from canary.analysis.mannwhitney import R_ROOT_FINDER, SCALE_AWARE_ROOT_FINDER
from canary.analysis.preprocess import NanStrategy, OutlierStrategy
from canary.analysis.scorer import ScoreThresholds

EXIT_BAD_INPUT = 2
MAX_INPUT_BYTES = 32 * 1024 * 1024
"""Largest input read from stdin (32 MiB)."""
MAX_POINTS = 100_000
"""Most samples on one side of one metric."""
MAX_TOTAL_POINTS = 1_000_000
"""Most samples over all metrics and both sides."""


def parse_sample(value: object) -> float:
    """A sample is a JSON number or the string "NaN" (JSON has no NaN literal)."""
    if value == "NaN":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'expected a number or "NaN", got {_brief_json(value)}')
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("a number too large for a double") from None
    if math.isinf(number):
        raise ValueError("a number too large for a double")
    return number


def _brief_json(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


Sample = Annotated[float, Field(allow_inf_nan=True), BeforeValidator(parse_sample)]
"""A sample: finite, or NaN for a missing one (every other number in the input is finite)."""


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, allow_inf_nan=False
    )


class EffectSizeInput(Model):
    measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None


class MetricInputModel(Model):
    name: str = Field(min_length=1)
    control: list[Sample] | None = Field(None, max_length=MAX_POINTS)
    experiment: list[Sample] | None = Field(None, max_length=MAX_POINTS)
    direction: Literal["increase", "decrease", "either"] = "either"
    nan_strategy: Literal["remove", "replace"] = "remove"
    outliers: Literal["keep", "remove"] = "keep"
    tolerance: float = Field(0.25, ge=0, allow_inf_nan=False)
    confidence: float = Field(0.98, gt=0, lt=1)
    effect_size: EffectSizeInput = EffectSizeInput()
    critical: bool = False
    must_have_data: bool = False
    groups: list[str] = []
    muted: bool = False
    classification: (
        Literal["Pass", "High", "Low", "Nodata", "NodataFailMetric", "NotEnoughData", "Error"]
        | None
    ) = None


class ThresholdsInput(Model):
    passing: float = Field(95.0, alias="pass", ge=0, le=100)
    marginal: float = Field(75.0, ge=0, le=100)


class OptionsInput(Model):
    root_finder: Literal["r", "scaleAware"] = "r"
    estimate_correction: bool = False
    critical_when_effect_unknown: bool = False
    nan_ratio_at_zero_mean: bool = False
    judge_small_samples: bool = False
    critical_on_error: bool = False
    noise_seed: int = 0


class JudgeRequest(Model):
    metrics: list[MetricInputModel] = Field(min_length=1)
    group_weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = {}
    thresholds: ThresholdsInput = ThresholdsInput()
    options: OptionsInput = OptionsInput()


class InputError(Exception):
    """Bad input, already phrased as "path: problem" lines."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "judge",
        help="judge canary vs baseline samples like Kayenta (JSON on stdin, JSON on stdout)",
        description=(
            "Reads {metrics: [{name, control, experiment, ...}], groupWeights, thresholds} on "
            "stdin and writes {metrics: [...], score, result} on stdout. Exit 2 on bad input. "
            f"Limits: {MAX_INPUT_BYTES // 2**20} MiB of UTF-8 JSON, {MAX_POINTS:,} samples per "
            f"side of a metric, {MAX_TOTAL_POINTS:,} samples in all."
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        request = parse_request(read_input())
        metrics, weights, thresholds, options = to_judge_arguments(request)
    except InputError as error:
        print(f"canary judge: invalid input:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    judgement = judge(metrics, weights, thresholds, options)
    json.dump(judgement.to_dict(), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    return 0


def read_input() -> str:
    """Standard input as text, at most MAX_INPUT_BYTES of UTF-8; InputError otherwise."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (e.g. in tests)
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"(document): larger than the limit of {MAX_INPUT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"(document): not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}"
        ) from None


def _no_constant(name: str) -> float:
    raise InputError(f'(document): {name} is not JSON; write a missing sample as "NaN"')


def parse_request(text: str) -> JudgeRequest:
    """The request in JSON `text`; InputError (one `path: problem` line each) when it is bad."""
    if not text.strip():
        raise InputError("(document): empty input; expected a JSON object")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise InputError(f"(document): not JSON: {error}") from None
    except RecursionError:
        raise InputError("(document): nested too deeply") from None
    except ValueError as error:  # an integer longer than Python converts (4,300 digits)
        raise InputError(f"(document): {error}") from None
    _check_sizes(data)
    _require_text(data)
    try:
        request = JudgeRequest.model_validate(data)
    except ValidationError as error:
        raise InputError("\n".join(describe(e["loc"], e["msg"]) for e in error.errors())) from None
    return request


def _check_sizes(data: object) -> None:
    """The sample limits, checked on the parsed JSON before any sample is validated."""
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, list):
        return
    total = 0
    for index, metric in enumerate(metrics):
        for side in ("control", "experiment"):
            samples = metric.get(side) if isinstance(metric, dict) else None
            if isinstance(samples, list):
                if len(samples) > MAX_POINTS:
                    raise InputError(
                        f"metrics[{index}].{side}: {len(samples)} samples, more than {MAX_POINTS}"
                    )
                total += len(samples)
    if total > MAX_TOTAL_POINTS:
        raise InputError(f"metrics: {total} samples in all, more than {MAX_TOTAL_POINTS}")


def _require_text(data: object) -> None:
    """Refuses strings with lone surrogates (JSON's "\\ud800"): they cannot be written out."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("(document): a string holds a lone surrogate (e.g. \\ud800)") from None
    except RecursionError:
        raise InputError("(document): nested too deeply") from None


def describe(location: tuple[int | str, ...], message: str) -> str:
    """("metrics", 0, "tolerance") -> "metrics[0].tolerance: message"."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = message.removeprefix("Value error, ")
    if not location and message.startswith("Input should be a valid dictionary"):
        message = "expected a JSON object"
    return f"{path or '(document)'}: {message}"


def to_judge_arguments(
    request: JudgeRequest,
) -> tuple[list[MetricInput], dict[str, float], ScoreThresholds, JudgeOptions]:
    problems = [
        describe(("metrics", index, side), "required unless the metric has a classification")
        for index, metric in enumerate(request.metrics)
        if metric.classification is None
        for side in ("control", "experiment")
        if getattr(metric, side) is None
    ]
    total_weight = sum(request.group_weights.values())
    if total_weight > 100:
        problems.append(describe(("groupWeights",), f"add up to {total_weight:g}, more than 100"))
    if request.thresholds.marginal > request.thresholds.passing:
        problems.append(describe(("thresholds", "marginal"), "must not be above thresholds.pass"))
    if problems:
        raise InputError("\n".join(problems))
    thresholds = ScoreThresholds(request.thresholds.passing, request.thresholds.marginal)
    return (
        [metric_input(metric) for metric in request.metrics],
        dict(request.group_weights),
        thresholds,
        judge_options(request.options),
    )


def metric_input(metric: MetricInputModel) -> MetricInput:
    config = MetricConfig(
        name=metric.name,
        direction=Direction(metric.direction),
        nan_strategy=NanStrategy(metric.nan_strategy),
        outliers=OutlierStrategy(metric.outliers),
        tolerance=metric.tolerance,
        confidence=metric.confidence,
        effect_size=effect_size_of(metric.effect_size),
        critical=metric.critical,
        must_have_data=metric.must_have_data,
        groups=tuple(metric.groups),
        muted=metric.muted,
    )
    classification = (
        Classification(metric.classification) if metric.classification is not None else None
    )
    return MetricInput(
        config=config,
        control=tuple(metric.control or ()),
        experiment=tuple(metric.experiment or ()),
        classification=classification,
    )


def judge_options(options: OptionsInput) -> JudgeOptions:
    return JudgeOptions(
        root_finder=SCALE_AWARE_ROOT_FINDER
        if options.root_finder == "scaleAware"
        else R_ROOT_FINDER,
        estimate_correction=options.estimate_correction,
        critical_when_effect_unknown=options.critical_when_effect_unknown,
        nan_ratio_at_zero_mean=options.nan_ratio_at_zero_mean,
        judge_small_samples=options.judge_small_samples,
        critical_on_error=options.critical_on_error,
        noise_seed=options.noise_seed,
    )
