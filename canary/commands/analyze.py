"""`canary analyze`: runs a Canary's analysis against a Prometheus at a past time, or replays it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canary import flagtypes
from canary.analysis.results import CheckResult, Verdict, format_number
from canary.api.canary import Canary
from canary.api.loading import InvalidObject, load_canary, parse, read_documents
from canary.api.metric_template import MetricProvider as ProviderSpec
from canary.api.metric_template import MetricTemplate
from canary.engine.types import TrafficSample
from canary.engine.verdicts import IntervalVerdict, interval_verdict
from canary.metrics.analyzer import MetricAnalyzer, Templates
from canary.metrics.evaluate import QUERY_ERROR
from canary.metrics.prometheus import Credentials, PrometheusProvider, TLSConfig
from canary.protocols import AnalysisOutcome, MetricProvider

TOKEN_ENV = "CANARY_PROMETHEUS_TOKEN"
PASSWORD_ENV = "CANARY_PROMETHEUS_PASSWORD"
MAX_EVALUATIONS = 10_000
MAX_TIMEOUT_SECONDS = 600.0
MAX_DURATION_SECONDS = 366 * 24 * 3600.0
EXIT_INVALID = 1
EXIT_PROMETHEUS = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="evaluate a Canary's analysis against Prometheus at a past time or over a window",
        description=(
            "Runs every metric of the Canary's analysis, for the canary and the primary, and "
            "prints the values, verdicts and the decision the engine would take. Exit 0 when "
            f"it ran, 1 on invalid input, {EXIT_PROMETHEUS} when Prometheus could not answer. "
            f"Credentials: ${TOKEN_ENV} (bearer token) or --basic-auth-user with ${PASSWORD_ENV}."
        ),
    )
    parser.add_argument("canary", type=Path, metavar="CANARY.yaml")
    parser.add_argument(
        "--prometheus",
        required=True,
        type=flagtypes.http_url,
        metavar="URL",
        help="Prometheus base URL (http or https)",
    )
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=flagtypes.time, metavar="TIME", help="RFC 3339 or Unix seconds")
    when.add_argument("--from", dest="start", type=flagtypes.time, metavar="TIME")
    parser.add_argument("--to", dest="end", type=flagtypes.time, metavar="TIME")
    parser.add_argument(
        "--step",
        type=flagtypes.duration(0, MAX_DURATION_SECONDS),
        metavar="DURATION",
        help=f"e.g. 1m; at most {MAX_EVALUATIONS:,} evaluations from --from to --to",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--templates",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="MetricTemplates (besides those in CANARY.yaml); repeatable",
    )
    parser.add_argument(
        "--timeout",
        type=flagtypes.duration(0, MAX_TIMEOUT_SECONDS),
        default=5.0,
        metavar="DURATION",
        help=f"per query (default 5s, at most {MAX_TIMEOUT_SECONDS // 60:.0f}m)",
    )
    parser.add_argument("--bearer-token-file", type=Path, metavar="FILE")
    parser.add_argument("--basic-auth-user", metavar="USER")
    parser.add_argument(
        "--header",
        type=flagtypes.header,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra HTTP header (printable ASCII)",
    )
    parser.add_argument("--insecure-skip-verify", action="store_true")
    parser.add_argument("--ca-file", type=Path, metavar="FILE", help="CA bundle (PEM) to trust")
    parser.add_argument("--tls-server-name", metavar="NAME")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        times = evaluation_times(args)
        canary = load_canary(args.canary)
        templates = load_templates([args.canary, *args.templates])
        provider = make_provider(args)
    except (InvalidObject, ValueError, OSError) as error:
        print(f"canary analyze: {error}", file=sys.stderr)
        return EXIT_INVALID
    warn_about_providers(templates, args.prometheus)

    def same_prometheus(spec: ProviderSpec, namespace: str) -> MetricProvider:
        return provider  # the CLI asks the given Prometheus, whatever the template names

    analyzer = MetricAnalyzer(
        provider,
        templates=Templates(templates),
        providers=same_prometheus,
        always_query_primary=True,
    )
    evaluations = [evaluation(canary, at, analyzer.analyze(canary, at)) for at in times]
    provider.close()
    if args.json:
        document = {
            "canary": identity(canary),
            "prometheus": args.prometheus,
            "evaluations": [item.to_dict() for item in evaluations],
        }
        print(json.dumps(document, indent=2))
    else:
        print_table(canary, evaluations)
    if any(item.prometheus_failed for item in evaluations):
        print(
            f"canary analyze: --prometheus {args.prometheus}: some queries failed "
            "(the error of each is in the output)",
            file=sys.stderr,
        )
        return EXIT_PROMETHEUS
    return 0


def evaluation_times(args: argparse.Namespace) -> list[datetime]:
    if args.at is not None:
        if args.end is not None or args.step is not None:
            raise ValueError("--to and --step go with --from, not with --at")
        return [args.at]
    if args.end is None or args.step is None:
        raise ValueError("--from needs --to and --step")
    if args.end < args.start:
        raise ValueError("--to is before --from")
    count = evaluation_count(args.start, args.end, args.step)
    if count > MAX_EVALUATIONS:
        raise ValueError(
            f"--step: {count} evaluations from --from to --to; use a larger step "
            f"(at most {MAX_EVALUATIONS})"
        )
    return list(replay(args.start, args.end, args.step))


def evaluation_count(start: datetime, end: datetime, step: float) -> int:
    """How many times replay(start, end, step) yields, computed without building them.

    Counted in whole microseconds (datetime's resolution), so that 86400 s in steps of 1 ms is
    exactly 86,400,001 times, not one less through floating-point division.
    """
    return (end - start) // _MICROSECOND // _step_microseconds(step) + 1


def replay(start: datetime, end: datetime, step: float) -> Iterator[datetime]:
    """start, start+step, ... up to and including end."""
    step_us = _step_microseconds(step)
    for index in range(evaluation_count(start, end, step)):
        yield start + index * step_us * _MICROSECOND


_MICROSECOND = timedelta(microseconds=1)


def _step_microseconds(step: float) -> int:
    return max(1, round(step * 1_000_000))


def load_templates(paths: Sequence[Path]) -> list[MetricTemplate]:
    templates = []
    for path in paths:
        for document in read_documents(path):
            if document.kind == "MetricTemplate" and document.is_ours:
                parsed = parse(document)
                assert isinstance(parsed, MetricTemplate)
                templates.append(parsed)
    return templates


def make_provider(args: argparse.Namespace) -> PrometheusProvider:
    """The Prometheus to ask, with credentials from files and the environment (never printed)."""
    token = os.environ.get(TOKEN_ENV)
    if args.bearer_token_file is not None:
        token = flagtypes.read_small_text(args.bearer_token_file, "--bearer-token-file").strip()
    basic = None
    if args.basic_auth_user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise ValueError(f"--basic-auth-user needs the password in ${PASSWORD_ENV}")
        basic = (args.basic_auth_user, password)
    return PrometheusProvider(
        args.prometheus,
        timeout=args.timeout,
        headers=dict(args.header),
        credentials=Credentials(bearer_token=token or None, basic_auth=basic),
        tls=TLSConfig(
            insecure_skip_verify=args.insecure_skip_verify,
            ca_pem=flagtypes.read_small_text(args.ca_file, "--ca-file")
            if args.ca_file is not None
            else None,
            server_name=args.tls_server_name,
        ),
    )


def warn_about_providers(templates: Sequence[MetricTemplate], url: str) -> None:
    for template in templates:
        if template.spec.provider.address.rstrip("/") != url.rstrip("/"):
            print(
                f"note: MetricTemplate {template.metadata.namespace}/{template.metadata.name} "
                f"names {template.spec.provider.address}; querying {url} instead",
                file=sys.stderr,
            )


def identity(canary: Canary) -> dict[str, str]:
    return {"name": canary.metadata.name, "namespace": canary.metadata.namespace}


@dataclass(frozen=True)
class Evaluation:
    """One evaluation time: the engine's decision, the traffic and every metric's result."""

    at: datetime
    decision: str
    reason: str
    traffic: TrafficSample | None
    results: Sequence[CheckResult]

    @property
    def time(self) -> str:
        return self.at.astimezone(UTC).isoformat().replace("+00:00", "Z")

    @property
    def prometheus_failed(self) -> bool:
        return any(r.evidence.get("error") == QUERY_ERROR for r in self.results)

    def to_dict(self) -> dict[str, object]:
        return {
            "time": self.time,
            "unix": self.at.timestamp(),
            "decision": self.decision,
            "reason": self.reason,
            "traffic": traffic_dict(self.traffic),
            "metrics": [metric_dict(result) for result in self.results],
        }


def evaluation(canary: Canary, at: datetime, outcome: AnalysisOutcome) -> Evaluation:
    verdict = interval_verdict(canary.spec, outcome.results, outcome.traffic)
    return Evaluation(at, decision_word(verdict), verdict.reason, outcome.traffic, verdict.results)


def decision_word(verdict: IntervalVerdict) -> str:
    """What the engine's analysis tick does with the interval (webhook gates and the sequential
    test, which need a live run, are not replayed)."""
    if verdict.verdict == Verdict.PASS:
        return "advance"
    if verdict.verdict == Verdict.FAIL:
        return "rollback" if verdict.critical else "fail"
    return "hold"


def metric_dict(result: CheckResult) -> dict[str, object]:
    entry = result.to_dict()
    entry.pop("evidence")
    if "error" in result.evidence:
        entry["error"] = result.evidence["error"]
    return entry


def traffic_dict(traffic: TrafficSample | None) -> dict[str, int] | None:
    if traffic is None:
        return None
    return {
        "canaryRequests": traffic.canary_requests,
        "canaryFailures": traffic.canary_failures,
        "primaryRequests": traffic.primary_requests,
        "primaryFailures": traffic.primary_failures,
    }


def number(value: float | None) -> str:
    return "-" if value is None else format_number(value)


def print_table(canary: Canary, evaluations: Sequence[Evaluation]) -> None:
    name = f"{canary.metadata.namespace}/{canary.metadata.name}"
    for item in evaluations:
        print(f"{item.time}  {name}  {item.decision.upper()}: {item.reason}")
        rows = [("METRIC", "CANARY", "PRIMARY", "THRESHOLD", "VERDICT")]
        rows += [
            (r.name, number(r.value), number(r.primary_value), r.threshold, r.verdict.value)
            for r in item.results
        ]
        reasons = ["REASON", *(r.reason for r in item.results)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row, reason in zip(rows, reasons, strict=True):
            cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print(f"  {cells}  {reason}")
        if item.traffic is not None:
            t = item.traffic
            print(
                f"  traffic: canary {t.canary_requests} requests ({t.canary_failures} 5xx), "
                f"primary {t.primary_requests} ({t.primary_failures} 5xx)"
            )
        print()
