"""`get`, `get -o wide` and `list` against golden text, for each status fixture.

Fixed "now", no colour, fixed width. After an intended change of the views, rewrite the golden
files with `CANARY_UPDATE_GOLDEN=1 pytest tests/operate/test_views.py` and review the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from canary.operate import view
from tests.operate.fixtures import FIXTURES, NOW

GOLDEN = Path(__file__).parent / "golden"
WIDTH = 120


def render(renderable: RenderableType, width: int = WIDTH) -> str:
    out = io.StringIO()
    Console(file=out, width=width, no_color=True, color_system=None, highlight=False).print(
        renderable
    )
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CANARY_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_get_matches_the_golden_text(fixture: str) -> None:
    check_golden(f"get-{fixture}.txt", render(view.detail(FIXTURES[fixture], NOW)))


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_get_wide_matches_the_golden_text(fixture: str) -> None:
    canary = FIXTURES[fixture].canary
    check_golden(f"get-wide-{fixture}.txt", render(view.table([canary], NOW, wide=True), 200))


def test_list_matches_the_golden_text() -> None:
    canaries = []
    for name, snap in sorted(FIXTURES.items()):
        canary = {**snap.canary, "metadata": {**snap.canary["metadata"], "name": name}}
        canaries.append(canary)
    check_golden("list.txt", render(view.table(canaries, NOW, wide=False)))


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(5, "5s"), (119, "119s"), (120, "2m"), (3599, "59m"), (3660, "1h1m"), (7 * 3600, "7h"),
     (26 * 3600, "1d2h"), (8 * 86400 + 3600, "8d")],
)  # fmt: skip
def test_ages_read_as_kubectl_prints_them(seconds: int, expected: str) -> None:
    then = NOW.timestamp() - seconds
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(then, UTC).isoformat()
    assert view.age(stamp, NOW) == expected


def test_the_bar_shows_the_weights() -> None:
    assert view.weight_bar(40).plain == "█" * 12 + "░" * 8
    assert view.weight_bar(0).plain == "█" * 20
    assert view.weight_bar(100).plain == "░" * 20


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from canary.operate.flags import console, show

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: behave as on a terminal
    snapshot = FIXTURES["failed"]
    coloured = io.StringIO()
    show(console(argparse.Namespace(no_color=False), file=coloured), view.detail(snapshot, NOW))
    assert "\x1b[" in coloured.getvalue()

    for flag, env in ((True, None), (False, "1")):
        if env:
            monkeypatch.setenv("NO_COLOR", env)
        plain = io.StringIO()
        show(console(argparse.Namespace(no_color=flag), file=plain), view.detail(snapshot, NOW))
        assert "\x1b[3" not in plain.getvalue(), (flag, env)
        assert "Failed" in plain.getvalue()

    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.delenv("NO_COLOR")
    piped = io.StringIO()
    show(console(argparse.Namespace(no_color=False), file=piped), view.detail(snapshot, NOW))
    assert "\x1b[" not in piped.getvalue()
