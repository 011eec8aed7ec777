"""Reads the fenced code blocks of the Markdown pages, with the marker comment before each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<marker>[a-z-]+)(?::\s*(?P<argument>.*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text (dedented), and the marker comment just before it."""

    page: Path
    line: int
    language: str
    text: str
    marker: str | None
    argument: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, outermost only (a fence inside a longer fence is text)."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language = opening["info"].strip().split(" ")[0]
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = [line[indent:] for line in lines[index + 1 : end]]
        marker = argument = None
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0 and (match := _MARKER.match(lines[before])):
            marker, argument = match["marker"], match["argument"]
        found.append(Block(page, index + 1, language, "\n".join(body) + "\n", marker, argument))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]
