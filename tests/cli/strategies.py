"""Hypothesis strategies for bad input: bytes, structure, numbers, durations, unicode, sizes."""

from __future__ import annotations

import json

from hypothesis import strategies as st

UNICODE_DIGITS = "٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３"


def raw_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and text in encodings other than UTF-8."""
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda t: t.encode("utf-16")),
        st.text(alphabet="abcé: -\n", max_size=100).map(lambda t: t.encode("latin-1")),
    )


def nesting() -> st.SearchStrategy[str]:
    """Deep flow and block structure, aliases, recursion and duplicate keys."""
    depth = st.integers(min_value=0, max_value=3000)
    return st.one_of(
        depth.map(lambda n: "a: " + "[" * n + "]" * n + "\n"),
        depth.map(lambda n: "a: " + "{b: " * n + "1" + "}" * n + "\n"),
        st.integers(min_value=1, max_value=300).map(
            lambda n: "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "v\n"
        ),
        st.integers(min_value=1, max_value=12).map(_laughs),
        st.just("a: &a [*a]\n"),
        st.just("apiVersion: canary.dev/v1alpha1\nkind: Canary\nkind: Canary\n"),
        st.just(""),
        st.just("---\n---\n# only comments\n"),
    )


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def number_tokens() -> st.SearchStrategy[str]:
    """YAML number tokens: huge, tiny, non-finite, fractional, signed, hex, sexagesimal."""
    return st.one_of(
        st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
        st.integers().map(str),
        st.floats()
        .map(repr)
        .map(lambda r: {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}.get(r, r)),
        st.sampled_from(
            [
                ".nan",
                ".NaN",
                ".inf",
                "-.inf",
                "1e400",
                "-1e400",
                "0x1F",
                "1:30",
                "1.5",
                "true",
                "null",
                "'80'",
            ]
        ),
    )


def duration_tokens() -> st.SearchStrategy[str]:
    """Durations: long, non-ASCII digits, fractions, no unit, other units, junk."""
    number = st.text(alphabet="0123456789" + UNICODE_DIGITS + ".", min_size=1, max_size=500)
    unit = st.sampled_from(["ms", "s", "m", "h", "d", "us", "", "µs"])
    part = st.tuples(number, unit).map("".join)
    return st.one_of(
        st.lists(part, min_size=1, max_size=5).map("".join),
        st.integers(min_value=1, max_value=500).map(lambda n: "9" * n + "s"),
        st.text(max_size=40),
    ).map(json.dumps)


def unicode_strings() -> st.SearchStrategy[str]:
    """Any text, lone surrogates included, written as a JSON (hence YAML) double-quoted string."""
    return st.one_of(
        st.text(max_size=80),
        st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u2028", "\ufeff", "\x85"]),
    ).map(json.dumps)
