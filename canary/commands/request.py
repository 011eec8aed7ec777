"""`canary promote|abort|pause|resume|retry NAME`: a manual request, and the controller's answer."""

from __future__ import annotations

import argparse

from canary.operate.flags import add_cluster_flags, add_name, api_for, guarded

REQUESTS = {
    "promote": "pass the current gate or step now (--full: skip the remaining steps and analysis)",
    "abort": "roll back now",
    "pause": "pause the rollout where it is",
    "resume": "resume a paused rollout",
    "retry": "run a failed or aborted revision again without changing the Deployment",
}
EXIT_ACCEPTED, EXIT_REFUSED, EXIT_NOT_SEEN = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for kind, help_text in REQUESTS.items():
        parser = subparsers.add_parser(
            kind,
            help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}. The request is recorded on the "
            "Canary (annotation canary.dev/request), so RBAC decides who may make it; then the "
            "command waits for the controller's answer. Exit 0 accepted, 1 refused, 2 not seen "
            "yet, 3 error.",
        )
        add_name(parser)
        if kind == "promote":
            parser.add_argument(
                "--full", action="store_true", help="skip the remaining steps and the analysis"
            )
        parser.add_argument(
            "--no-wait", action="store_true", help="do not wait for the controller's answer"
        )
        parser.add_argument(
            "--wait-timeout",
            type=float,
            default=15.0,
            metavar="SECONDS",
            help="how long to wait for the answer (default %(default)s)",
        )
        parser.add_argument(
            "--force", action="store_true", help="replace a request that is still waiting"
        )
        add_cluster_flags(parser)
        parser.set_defaults(handler=guarded(run), request_kind=kind)


def run(args: argparse.Namespace) -> int:
    from canary.operate.requests import send, wait_for_answer

    full = getattr(args, "full", False)
    kind = "promote-full" if full else args.request_kind
    label = "promote --full" if full else kind
    api = api_for(args)
    request_id = send(api, args.name, kind, force=args.force)
    where = f"canary {api.namespace}/{args.name}"
    if args.no_wait:
        print(f"{label}: requested on {where} ({request_id})")
        return EXIT_ACCEPTED
    answer = wait_for_answer(api, args.name, request_id, args.wait_timeout)
    if answer.outcome == "Accepted":
        print(f"{label}: accepted by the controller on {where}: {answer.reason or 'acting on it'}")
        return EXIT_ACCEPTED
    if answer.outcome == "Refused":
        print(f"{label}: {answer.reason}")
        return EXIT_REFUSED
    print(
        f"{label}: recorded on {where} ({request_id}) but not seen by the controller yet "
        f"after {args.wait_timeout:g}s; it is acted on when the controller gets to it. Is the "
        "controller running? (`kubectl get pods -A -l app.kubernetes.io/name=canary-controller`)"
    )
    return EXIT_NOT_SEEN
