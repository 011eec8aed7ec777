"""Every command is still there and parses; the registry and the modules agree."""

from __future__ import annotations

import argparse

import pytest

from canary import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_registers_under_its_name_with_a_handler(name: str) -> None:
    parser = cli.build_parser([name])
    subparsers = next(a for a in parser._actions if a.dest == "command")
    command = subparsers.choices[name]  # type: ignore[index]
    assert has_handler(command), name


def has_handler(parser: argparse.ArgumentParser) -> bool:
    """A handler on the command, or on each of its own sub-commands (`sandbox apiserver`)."""
    if callable(parser.get_default("handler")):
        return True
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return bool(nested) and all(has_handler(p) for a in nested for p in a.choices.values())


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "my-app", "-n", "shop", "-o", "wide", "--context", "prod"],
        ["list", "-A", "-o", "json"],
        ["promote", "my-app", "--full", "--no-wait"],
        ["abort", "my-app"],
        ["pause", "my-app"],
        ["resume", "my-app"],
        ["retry", "my-app", "--kubeconfig", "/tmp/k"],
        ["status", "my-app", "--wait", "--timeout", "5m"],
        ["completion", "fish"],
        ["crds"],
        ["validate", "a.yaml"],
        ["sandbox", "apiserver", "--port", "0"],
    ],
)
def test_command_lines_parse_to_a_handler(argv: list[str]) -> None:
    args = cli.build_parser(argv).parse_args(argv)
    assert callable(args.handler)


def test_the_full_parser_has_every_command() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(cli.COMMANDS)  # type: ignore[arg-type]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"    {name}" in out


def test_every_command_module_is_in_the_registry() -> None:
    """A module in canary.commands that the registry forgets would be unreachable from the CLI."""
    import pkgutil

    from canary import commands

    modules = {f"{commands.__name__}.{m.name}" for m in pkgutil.iter_modules(commands.__path__)}
    registered = {module for module, _ in cli.COMMANDS.values()}
    assert sorted(m for m in modules - registered if not m.rsplit(".", 1)[1].startswith("_")) == []
