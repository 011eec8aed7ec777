"""PromQL as data: the built-in Istio queries and a `{{ var }}` renderer that cannot be injected.

A placeholder inside a string literal ("...", '...' or `...`) is replaced by the value escaped for
that literal, so no value can close the string. A placeholder outside a literal accepts only a
single token that is validated first: a duration (`1m`), a plain number or a non-keyword
identifier. Anything else is a TemplateError, never spliced raw.

Inside the string of a regex matcher (`=~"..."`, `!~"..."`) a value is first escaped as a
regular-expression literal (the characters Go's regexp.QuoteMeta escapes), so it matches only
itself; a template that wants the value to act as a regex says so with `{{ name | regex }}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from canary.api.canary import Canary
from canary.api.common import format_duration, parse_duration

# The queries are spelled out in full (not assembled) so that they read exactly as documented in
# the README (Metrics). `reporter="destination"` counts each request once, at the server's
# sidecar, which also sees mirrored requests; the namespace keeps same-named workloads apart.
SUCCESS_RATE = (
    "(sum(rate(istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}",'
    'response_code!~"5.*"'
    "}[{{ interval }}])) or vector(0))"
    " / "
    "sum(rate(istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"'
    "}[{{ interval }}]))"
    " * 100"
)
"""request-success-rate: percent of the workload's requests not answered 5xx.

Unlike Flagger's, the numerator falls back to `vector(0)`: a workload whose every request fails has
no non-5xx series, and without the fallback its success rate would be "no data" instead of 0.
With no requests at all the denominator is still empty, so no traffic stays "no data".
"""

REQUEST_DURATION = (
    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"'
    "}[{{ interval }}])) by (le))"
)
"""request-duration: the 99th percentile of the workload's request duration in milliseconds."""

REQUESTS = (
    "sum(increase(istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"'
    "}[{{ interval }}]))"
)
"""Requests the workload served over the interval (for the traffic sample)."""

FAILURES = (
    "sum(increase(istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}",'
    'response_code=~"5.*"'
    "}[{{ interval }}]))"
)
"""Requests the workload answered with a 5xx over the interval."""

# The *_SINCE counts name one selector three times, so it is spelled out once here.
_ALL = (
    "istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"'
    "}"
)
_5XX = (
    "istio_requests_total{"
    'reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}",'
    'response_code=~"5.*"'
    "}"
)
REQUESTS_SINCE = (
    f"sum((last_over_time({_ALL}[{{{{ interval }}}}]) - {_ALL} offset {{{{ interval }}}}) >= 0"
    f" or last_over_time({_ALL}[{{{{ interval }}}}]))"
)
"""Requests the workload served since `interval` ago, counted exactly at scrape resolution.

Per series: its latest sample in the range minus its sample at the range's start (the instant
selector `offset interval`: the latest sample at or before it, within the 5 min lookback). A series
with no sample at the start (born since, as each pod's 5xx series is at the first scrape after its
first failure) counts its whole value: a counter starts at 0, which increase() never counts (it
needs two samples of a series). A series whose value dropped (a restarted pod) counts its value
since the restart, a lower bound, as `or` fills in the series the `>= 0` filter removed (set
operators match on labels without the metric name). `last_over_time` rather than the instant
selector keeps a series that went stale within the range (a pod deleted) at its last value.
Unlike increase(), nothing is extrapolated, so a later read never comes back lower unless a
counter reset or a series older than the lookback breaks the rule above. The sequential test
reads it over the range since status.sequential.readingSince (MetricAnalyzer.traffic with
`since`); why, with the numbers, in docs/internals/benchmarks.md ("Diagnosed one by one").
"""

FAILURES_SINCE = (
    f"sum((last_over_time({_5XX}[{{{{ interval }}}}]) - {_5XX} offset {{{{ interval }}}}) >= 0"
    f" or last_over_time({_5XX}[{{{{ interval }}}}]))"
)
"""Requests the workload answered with a 5xx since `interval` ago, counted as REQUESTS_SINCE."""

BUILTIN_QUERIES: Mapping[str, str] = {
    "request-success-rate": SUCCESS_RATE,
    "request-duration": REQUEST_DURATION,
}

Side = Literal["canary", "primary"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*(regex)\s*)?\}\}")
REGEX_FILTER = "regex"
"""`{{ name | regex }}`: inside a regex matcher, the value is a regex, not a literal."""
# RE2's metacharacters, as Go's regexp.QuoteMeta escapes them; Prometheus matchers are RE2.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_REGEX_OPERATORS = ("=~", "!~")
# No sign: outside a literal, a leading "-" or "+" would be a binary operator.
_NUMBER = re.compile(r"^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
_IDENTIFIER = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_PROMQL_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$", re.ASCII)
_KEYWORDS = frozenset(
    (
        *("and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("offset", "bool", "atan2", "sum", "min", "max", "avg", "group", "stddev", "stdvar"),
        *("count", "count_values", "bottomk", "topk", "quantile", "inf", "nan"),
    )
)
_QUOTES = "\"'`"


class TemplateError(ValueError):
    """A query template cannot be rendered safely (unknown variable, unsafe value, bad syntax)."""


def workload_names(canary: Canary) -> dict[Side, str]:
    """The Deployment measured on each side: the target itself and its `-primary` copy."""
    target = canary.spec.target_ref.name
    return {"canary": target, "primary": f"{target}-primary"}


def builtin_variables(canary: Canary, side: Side, interval: str) -> dict[str, str]:
    """name, namespace, target (this side's workload), primary, canary, service and interval."""
    names = workload_names(canary)
    return {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace,
        "target": names[side],
        "primary": names["primary"],
        "canary": names["canary"],
        "service": canary.spec.service.name or canary.spec.target_ref.name,
        "interval": promql_duration(interval),
    }


def promql_duration(text: str) -> str:
    """A canary Duration (`1m`, `1m30s`, `500ms`) in a form PromQL 2.x parses (`1m30s`)."""
    seconds = parse_duration(text)
    if seconds < 0.001:
        raise TemplateError(f"interval {text!r} is too short for a range selector")
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    return format_duration(seconds)


def render(template: str, variables: Mapping[str, str]) -> str:
    """The query with every `{{ var }}` replaced safely; TemplateError says why it cannot be."""
    out: list[str] = []
    quote: str | None = None
    in_regex = False
    index = 0
    while index < len(template):
        char = template[index]
        if template.startswith("{{", index):
            index = _substitute(template, index, variables, quote, in_regex, out)
            continue
        out.append(char)
        index += 1
        if quote is None:
            if char in _QUOTES:
                quote = char
                in_regex = _follows_regex_operator(template, index - 1)
            elif char == "#":
                index = _copy_comment(template, index, out)
        elif char == "\\" and quote != "`" and index < len(template):
            out.append(template[index])
            index += 1
        elif char == quote:
            quote = None
    if quote is not None:
        raise TemplateError(f"unterminated string literal: a {quote} is never closed")
    return "".join(out)


def _copy_comment(template: str, index: int, out: list[str]) -> int:
    """A `#` comment runs to the end of the line; placeholders in it are left as they are."""
    end = template.find("\n", index)
    end = len(template) if end < 0 else end
    out.append(template[index:end])
    return end


def _follows_regex_operator(template: str, quote_index: int) -> bool:
    """Whether the literal opening at `quote_index` is the right side of `=~` or `!~`."""
    index = quote_index
    while index > 0 and template[index - 1] in " \t\n\r":
        index -= 1
    return template[max(0, index - 2) : index] in _REGEX_OPERATORS


def _substitute(
    template: str,
    index: int,
    variables: Mapping[str, str],
    quote: str | None,
    in_regex: bool,
    out: list[str],
) -> int:
    match = _PLACEHOLDER.match(template, index)
    if match is None:
        snippet = template[index : index + 30]
        raise TemplateError(f"malformed placeholder at {snippet!r}: use {{{{ name }}}}")
    name, as_regex = match.group(1), match.group(2) == REGEX_FILTER
    if name not in variables:
        known = ", ".join(sorted(variables))
        raise TemplateError(f"unknown variable {name!r} (known: {known})")
    if as_regex and not (quote is not None and in_regex):
        raise TemplateError(
            f'{{{{ {name} | regex }}}} stands outside a regex matcher; use it in =~"..." or !~"..."'
        )
    value = variables[name]
    if quote is None:
        out.append(bare_token(name, value))
    else:
        out.append(escape_string(value if as_regex or not in_regex else escape_regex(value), quote))
    return match.end()


def escape_regex(value: str) -> str:
    """`value` as an RE2 regex that matches exactly `value` (Go's regexp.QuoteMeta)."""
    return "".join("\\" + char if char in _RE2_SPECIAL else char for char in value)


def escape_string(value: str, quote: str = '"') -> str:
    """The value escaped for a PromQL string literal delimited by `quote` (Go string rules)."""
    _require_utf8(value)
    if quote == "`":
        # Raw strings have no escapes, so a backtick could only end the literal: refuse it.
        if "`" in value:
            raise TemplateError("a value inside a `raw string` cannot contain a backtick")
        return value
    escaped: list[str] = []
    for char in value:
        if char in ("\\", quote):
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return "".join(escaped)


def _require_utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise TemplateError("a value is not valid text (lone surrogate)") from error


def bare_token(name: str, value: str) -> str:
    """A value placed outside a string literal: one duration, number or identifier, else refused."""
    if _PROMQL_DURATION.match(value) or _NUMBER.match(value):
        return value
    if _IDENTIFIER.match(value) and value.lower() not in _KEYWORDS:
        return value
    raise TemplateError(
        f"variable {name!r} is used outside a string literal, so its value must be a duration, "
        f"a number or a metric/label name, got {value!r}; put the placeholder in quotes"
    )


def unescape_string(body: str, quote: str) -> str:
    """The value of a literal's body (inverse of escape_string, for the escapes it produces)."""
    if quote == "`":
        return body
    out: list[str] = []
    index = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code == "u":
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        else:
            out.append(simple.get(code, code))
            index += 2
    return "".join(out)


def skeleton(query: str) -> tuple[str, list[str]]:
    """The query's structure with each string literal replaced by `""`, and the literals' values.

    Two queries with the same skeleton differ only inside string literals; tests use this to show
    that no variable value changes a query's structure.
    """
    shape: list[str] = []
    literals: list[str] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char not in _QUOTES:
            shape.append(char)
            index += 1
            continue
        end = _literal_end(query, index)
        literals.append(unescape_string(query[index + 1 : end], char))
        shape.append('""')
        index = end + 1
    return "".join(shape), literals


def _literal_end(query: str, start: int) -> int:
    quote = query[start]
    index = start + 1
    while index < len(query):
        if query[index] == "\\" and quote != "`":
            index += 2
            continue
        if query[index] == quote:
            return index
        index += 1
    raise TemplateError(f"unterminated string literal starting at {start}")
