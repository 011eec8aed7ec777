"""The command-line reference, walked from the argument parser that `canary` itself uses."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from pathlib import Path

WIDTH = 100
"""Columns of the usage lines, fixed so that the page does not depend on the terminal."""


def render_cli() -> str:
    """The reference page of every `canary` sub-command: usage, description and one row per argument."""
    from canary.cli import build_parser  # here, not at import: canary.cli loads every command

    parser = build_parser()
    lines = [
        "# Command line",
        "",
        "The console script is `canary`; it is also installed as `kubectl-canary`, so "
        "`kubectl canary …` works once the virtualenv's `bin` is on `PATH`. Each sub-command is "
        "one module in `canary/commands/`. This page is generated from the argument parser.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    commands = list(_commands(parser))
    for name, _sub, summary in commands:
        lines.append(f"| [`{name}`](#{_anchor(name)}) | {_cell(summary)} |")
    lines.append("")
    for name, sub, summary in commands:
        lines += _command(name, sub, summary)
    return "\n".join(lines).rstrip() + "\n"


def parser_for(path: list[str]) -> argparse.ArgumentParser:
    """The parser of a sub-command given by its words, e.g. ["controller"] or ["sandbox", "apiserver"]."""
    from canary.cli import build_parser

    parser = build_parser()
    for word in path:
        parser = _subparsers(parser)[word]
    return parser


def arguments_table(
    parser: argparse.ArgumentParser, variables: Mapping[str, str] | None = None
) -> list[str]:
    """A Markdown table of a parser's arguments (without -h).

    With `variables` (argparse dest -> environment variable), a column names each option's variable.
    """
    formatter = _formatter(parser)
    if variables is None:
        rows = ["| argument | default | meaning |", "|---|---|---|"]
    else:
        rows = ["| argument | variable | default | meaning |", "|---|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        variable = ""
        if variables is not None:
            variable = (
                f" {_cell(f'`{variables[action.dest]}`' if action.dest in variables else '')} |"
            )
        rows.append(
            f"| {_cell(_invocation(formatter, action))} |{variable} {_cell(_default(action))} | "
            f"{_cell(_expand(formatter, action))} |"
        )
    return rows if len(rows) > 2 else []


def _commands(
    parser: argparse.ArgumentParser, prefix: str = "canary"
) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    helps = _helps(parser)
    for word, sub in sorted(_subparsers(parser).items()):
        name = f"{prefix} {word}"
        yield name, sub, helps.get(word, "")
        yield from _commands(sub, name)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def _command(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    usage = _formatter(parser)
    usage.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    lines = [f"## `{name}` {{ #{_anchor(name)} }}", ""]
    description = parser.description or summary
    if description:
        lines += [" ".join(description.split()), ""]
    lines += ["```text", usage.format_help().strip(), "```", ""]
    table = arguments_table(parser)
    if table:
        lines += [*table, ""]
    if _subparsers(parser):
        words = ", ".join(f"[`{name} {w}`](#{_anchor(f'{name} {w}')})" for w in _subparsers(parser))
        lines += [f"Sub-commands: {words}.", ""]
    if parser.epilog:
        lines += [parser.epilog.strip(), ""]
    return lines


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(parser.prog, width=WIDTH)


def _invocation(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    if not action.option_strings:
        metavar = formatter._metavar_formatter(action, action.dest)(1)[0]
        return f"`{metavar}`"
    text = formatter._format_action_invocation(action)
    return ", ".join(f"`{part.strip()}`" for part in text.split(", "))


def _expand(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    text = formatter._expand_help(action) if action.help else ""
    if action.choices and action.metavar and not isinstance(action.choices, dict):
        listed = ", ".join(f"`{c}`" for c in action.choices)
        text = f"{text} (one of {listed})" if text else f"One of {listed}."
    if action.required and action.option_strings:
        text = f"**Required.** {text}"
    repeatable = isinstance(action, argparse._AppendAction | argparse._ExtendAction)
    if repeatable and "repeat" not in text.lower():
        text = f"{text} Repeatable." if text else "Repeatable."
    return " ".join(text.split())


def _default(action: argparse.Action) -> str:
    # A default read from the environment shows the one it replaced: the page must not depend on
    # the shell that generated it.
    default = getattr(action.default, "fallback", action.default)
    if default is None or default is argparse.SUPPRESS or default is False or default == []:
        return ""
    if (
        isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction)
        or action.nargs == 0
    ):
        return ""
    if not isinstance(default, str | int | float | Path):
        return ""  # an object's repr (a function, a class) would differ from run to run
    return f"`{default}`"


def _anchor(name: str) -> str:
    return name.replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
