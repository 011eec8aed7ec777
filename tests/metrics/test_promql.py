"""Template rendering: variables, escaping, and the invariant that no value changes a query's shape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.metrics import promql
from canary.metrics.promql import TemplateError, render, skeleton

from .canaries import canary


@pytest.mark.parametrize(
    ("template", "value", "rendered"),
    [
        pytest.param('up{job="{{ v }}"}', "api", 'up{job="api"}', id="plain"),
        pytest.param(
            'up{job="{{ v }}"}',
            'a"} or vector(1) #',
            'up{job="a\\"} or vector(1) #"}',
            id="quote-injection",
        ),
        pytest.param('up{job="{{ v }}"}', "a\\", 'up{job="a\\\\"}', id="trailing-backslash"),
        pytest.param('up{job="{{ v }}"}', "a\nb", 'up{job="a\\nb"}', id="newline"),
        pytest.param('up{job="{{ v }}"}', "a\x00b", 'up{job="a\\u0000b"}', id="control-character"),
        pytest.param("up{job='{{ v }}'}", "it's", "up{job='it\\'s'}", id="single-quoted"),
        pytest.param(
            'up{job="{{v}}-primary"}', "api", 'up{job="api-primary"}', id="no-spaces-and-suffix"
        ),
        pytest.param("rate(x[{{ v }}])", "1m30s", "rate(x[1m30s])", id="duration-outside-quotes"),
        pytest.param(
            "histogram_quantile({{ v }}, x)", "0.95", "histogram_quantile(0.95, x)", id="number"
        ),
        pytest.param("sum by ({{ v }}) (x)", "le", "sum by (le) (x)", id="identifier"),
        pytest.param(
            '# uses {{ v }}\nup{job="{{ v }}"}',
            "a b",
            '# uses {{ v }}\nup{job="a b"}',
            id="comment-untouched",
        ),
    ],
)
def test_values_are_escaped_for_where_they_stand(template: str, value: str, rendered: str) -> None:
    assert render(template, {"v": value}) == rendered


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        pytest.param(
            "rate(x[{{ v }}])",
            {"v": "1m]) or up[1m"},
            "outside a string literal",
            id="injection-outside-quotes",
        ),
        pytest.param("sum by ({{ v }}) (x)", {"v": "or"}, "outside a string literal", id="keyword"),
        pytest.param("x {{ v }}", {"v": "-1"}, "outside a string literal", id="signed-number"),
        pytest.param("up{job=`{{ v }}`}", {"v": "a`b"}, "backtick", id="backtick-in-raw-string"),
        pytest.param(
            'up{job="{{ w }}"}', {"v": "x"}, "unknown variable 'w'", id="unknown-variable"
        ),
        pytest.param(
            'up{job="{{ v }"}', {"v": "x"}, "malformed placeholder", id="malformed-placeholder"
        ),
        pytest.param('up{job="{{ v }}}', {"v": "x"}, "unterminated", id="unterminated-string"),
    ],
)
def test_unsafe_or_broken_templates_are_template_errors(
    template: str, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        render(template, variables)


TEMPLATES = [
    'sum(rate(x{a="{{ v }}",b=~"{{ v }}.*"}[1m])) / sum(y{c!="pre-{{ v }}"})',
    "count(x{a='{{ v }}'}) or vector(0)",
    "x{a=`{{ v }}`}",
]


@given(value=st.text(), index=st.sampled_from(range(len(TEMPLATES))))
def test_no_value_changes_the_structure_of_a_query(value: str, index: int) -> None:
    template = TEMPLATES[index]
    try:
        rendered = render(template, {"v": value})
    except TemplateError:
        assert "`" in value  # the only refusal inside quotes: a backtick in a raw string
        return
    shape, literals = skeleton(rendered)
    benign_shape, benign_literals = skeleton(render(template, {"v": "x"}))
    assert shape == benign_shape
    # Parsing the literals back gives exactly the value where the benign rendering had "x" (as
    # a regex literal inside the =~ matcher).
    expected = [
        lit.replace("x", promql.escape_regex(value) if lit.endswith(".*") else value)
        for lit in benign_literals
    ]
    assert literals == expected


@given(value=st.text())
def test_a_value_outside_quotes_is_one_safe_token_or_refused(value: str) -> None:
    try:
        rendered = render("rate(x[{{ v }}])", {"v": value})
    except TemplateError:
        return
    token = rendered.removeprefix("rate(x[").removesuffix("])")
    assert token == value
    assert token[0] not in "+-"  # a sign would be an operator
    assert all(c.isascii() and (c.isalnum() or c in "_:.+-") for c in token)


def test_builtin_variables_name_each_sides_workload() -> None:
    subject = canary({"name": "request-success-rate", "thresholdRange": {"min": 99}})
    assert promql.builtin_variables(subject, "primary", "1m") == {
        "name": "podinfo",
        "namespace": "test",
        "target": "podinfo-primary",
        "primary": "podinfo-primary",
        "canary": "podinfo",
        "service": "podinfo",
        "interval": "1m",
    }


@pytest.mark.parametrize(
    ("interval", "promql_form"),
    [("1m", "1m"), ("90s", "1m30s"), ("1h", "1h"), ("1.5s", "1500ms"), ("500ms", "500ms")],
)
def test_intervals_are_written_as_promql_durations(interval: str, promql_form: str) -> None:
    assert promql.promql_duration(interval) == promql_form


def test_the_builtin_success_rate_query_is_exactly_the_documented_one() -> None:
    rendered = render(
        promql.SUCCESS_RATE, {"namespace": "test", "target": "podinfo", "interval": "1m"}
    )
    assert rendered == (
        '(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
        'destination_workload="podinfo",response_code!~"5.*"}[1m])) or vector(0))'
        ' / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
        'destination_workload="podinfo"}[1m])) * 100'
    )


@pytest.mark.parametrize(
    ("template", "value", "rendered"),
    [
        pytest.param('x{a=~"{{ v }}"}', "a.b", 'x{a=~"a\\\\.b"}', id="dot-is-literal"),
        pytest.param('x{a!~"{{ v }}"}', "a|b", 'x{a!~"a\\\\|b"}', id="negative-matcher"),
        pytest.param("x{a=~ '{{ v }}.*'}", "(", "x{a=~ '\\\\(.*'}", id="space-and-single-quote"),
        pytest.param("x{a=~`{{ v }}`}", "a+", "x{a=~`a\\+`}", id="raw-string"),
        pytest.param('x{a=~"{{ v | regex }}"}', "a|b", 'x{a=~"a|b"}', id="marked-as-regex"),
        pytest.param('x{a="{{ v }}"}', "a.b", 'x{a="a.b"}', id="equality-untouched"),
    ],
)
def test_values_inside_regex_matchers_are_literals(
    template: str, value: str, rendered: str
) -> None:
    assert render(template, {"v": value}) == rendered


@pytest.mark.parametrize(
    "template", ['x{a="{{ v | regex }}"}', "rate(x[{{ v | regex }}])", "{{v|regex}}"]
)
def test_the_regex_filter_outside_a_regex_matcher_is_an_error(template: str) -> None:
    with pytest.raises(TemplateError, match="outside a regex matcher"):
        render(template, {"v": "1m"})


@given(value=st.text(), other=st.text())
def test_a_value_in_a_regex_matcher_matches_itself_and_nothing_else(value: str, other: str) -> None:
    """RE2 and Python's re agree on backslash-escaped punctuation and on plain characters."""
    try:
        rendered = render('x{a=~"{{ v }}"}', {"v": value})
    except TemplateError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value)  # not text: refused
        return
    _, [pattern] = skeleton(rendered)
    assert re.fullmatch(pattern, value, re.DOTALL) is not None
    assert (re.fullmatch(pattern, other, re.DOTALL) is not None) == (other == value)
    # Every backslash in the pattern escapes an RE2 metacharacter: no class, no operator.
    assert re.fullmatch(r"(?:[^\\.+*?()|\[\]{}^$]|\\[\\.+*?()|\[\]{}^$])*", pattern, re.DOTALL)
