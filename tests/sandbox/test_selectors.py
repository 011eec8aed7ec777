"""Label and field selector rules, as apimachinery's `labels.Parse` and field selectors apply them."""

from __future__ import annotations

import pytest

from canary.sandbox import errors, selectors
from canary.sandbox.resources import EVENT_FIELDS, META_FIELDS

LABELS = {"app": "web", "track": "canary", "canary.dev/owner": "team-a"}


def obj(labels: dict[str, str] | None = None, **fields: object) -> dict[str, object]:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels or {}}, **fields}


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param("", True, id="empty-matches-everything"),
    pytest.param("app=web", True, id="equals"),
    pytest.param("app==web", True, id="double-equals"),
    pytest.param("app=api", False, id="equals-other-value"),
    pytest.param("app!=api", True, id="not-equals"),
    pytest.param("missing!=x", True, id="not-equals-matches-missing-label"),
    pytest.param("track in (canary, primary)", True, id="in-with-spaces"),
    pytest.param("track in (primary)", False, id="in-other-values"),
    pytest.param("track notin (primary)", True, id="notin"),
    pytest.param("missing notin (x)", True, id="notin-matches-missing-label"),
    pytest.param("track", True, id="exists"),
    pytest.param("!track", False, id="does-not-exist-but-does"),
    pytest.param("!missing", True, id="does-not-exist"),
    pytest.param("canary.dev/owner=team-a", True, id="prefixed-key"),
    pytest.param("app=web,track=primary", False, id="and-of-two"),
    pytest.param(" app = web , track ", True, id="whitespace"),
    pytest.param("app=", False, id="empty-value-matches-empty-label-only"),
])  # fmt: skip
def test_label_selector_matching(selector: str, matches: bool) -> None:
    parsed = selectors.parse_labels(selector)
    assert selectors.labels_match(parsed, obj(LABELS)) is matches


@pytest.mark.parametrize("selector", [
    pytest.param("app in web", id="in-without-parentheses"),
    pytest.param("app in (web", id="unclosed-parenthesis"),
    pytest.param("Bad Key=x", id="space-in-key"),
    pytest.param("app=in valid", id="two-values"),
    pytest.param("app=-x", id="value-starting-with-dash"),
    pytest.param("!", id="bang-without-key"),
])  # fmt: skip
def test_malformed_label_selectors_are_400_bad_request(selector: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        selectors.parse_labels(selector)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param("metadata.name=x", True, id="name"),
    pytest.param("metadata.name!=x", False, id="name-not-equal"),
    pytest.param("metadata.namespace==ns", True, id="namespace-double-equals"),
    pytest.param("involvedObject.name=web,reason=Synced", True, id="event-fields"),
    pytest.param("involvedObject.kind=Pod", False, id="event-field-mismatch"),
    pytest.param("type!=Warning", True, id="event-type"),
    pytest.param("source=canary", True, id="source-is-source-component"),
])  # fmt: skip
def test_field_selector_matching(selector: str, matches: bool) -> None:
    event = obj(involvedObject={"kind": "Deployment", "name": "web"}, reason="Synced",
                type="Normal", source={"component": "canary"})  # fmt: skip
    parsed = selectors.parse_fields(selector, EVENT_FIELDS)
    assert selectors.fields_match(parsed, event) is matches


@pytest.mark.parametrize("selector", ["spec.replicas=1", "metadata.labels=x", "nonsense"])
def test_unsupported_field_selectors_are_400_bad_request(selector: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        selectors.parse_fields(selector, META_FIELDS)
    assert caught.value.code == 400
