"""`canary list`: every Canary with namespace, name, phase, weight, failed checks and age."""

from __future__ import annotations

import argparse

from canary.operate.flags import add_cluster_flags, add_output, api_for, console, guarded, show


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list the Canaries with phase, weight and age",
        description="One row per Canary in the namespace (-A: in every namespace).",
    )
    add_output(parser)
    add_cluster_flags(parser, all_namespaces=True)
    parser.set_defaults(handler=guarded(run))


def run(args: argparse.Namespace) -> int:
    from canary.commands.get import print_object
    from canary.operate import view

    api = api_for(args)
    canaries = api.list_canaries(None if args.all_namespaces else api.namespace)
    if args.output in ("json", "yaml"):
        print_object({"apiVersion": "v1", "kind": "List", "items": canaries}, args.output)
        return 0
    if not canaries:
        where = "any namespace" if args.all_namespaces else f"namespace {api.namespace}"
        print(f"No Canaries found in {where}.")
        return 0
    show(console(args), view.table(canaries, view.now_utc(), wide=args.output == "wide"))
    return 0
