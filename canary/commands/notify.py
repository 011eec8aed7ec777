"""`canary notify test`: sends a sample message through an AlertProvider, to check its webhook."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from canary.kube.client import Kube
from canary.kube.sources import KubeSecrets
from canary.notify.delivery import PROVIDERS, NotifyError, Transient, resolve, send_with_retries
from canary.notify.message import sample_message
from canary.notify.routing import Route
from canary.notify.sources import KubeAlertProviders


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "notify",
        help="notifications: send a test message through an AlertProvider",
        description="Exit 0 when the service accepted the message, 1 otherwise.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test",
        help="send a sample message through PROVIDER (an AlertProvider) and its Secret",
        description="Reads the AlertProvider and its Secret like the controller does, and sends "
        "one sample message (no retries past a second attempt). No secret value is printed.",
    )
    test.add_argument("provider", metavar="PROVIDER", help="AlertProvider name")
    test.add_argument("-n", "--namespace", default="default", metavar="NS")
    test.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file")
    test.add_argument(
        "--cluster-name",
        default=os.environ.get("CANARY_CLUSTER_NAME", ""),
        metavar="NAME",
        help="the cluster's name shown in the message (default $CANARY_CLUSTER_NAME)",
    )
    test.set_defaults(handler=run_test)


def run_test(args: argparse.Namespace) -> int:
    from canary.commands.controller import api_client

    kube = Kube.of(api_client(args.kubeconfig, workers=1))
    route = Route(args.namespace, args.provider)
    try:
        destination, fields = resolve(route, KubeAlertProviders(kube), KubeSecrets(kube))
    except NotifyError as error:
        print(f"canary notify test: {error}", file=sys.stderr)
        return 1
    message = sample_message(args.namespace, args.cluster_name, datetime.now(UTC))
    message = message.with_extra(fields)
    try:
        reply = send_with_retries(
            PROVIDERS[destination.type], message, destination, attempts=2, max_wait=10.0
        )
    except Transient as error:
        print(f"canary notify test: {route.key} ({destination.type}): {error}", file=sys.stderr)
        return 1
    if not reply.ok:
        detail = f": {reply.detail}" if reply.detail else ""
        print(
            f"canary notify test: {route.key} ({destination.type}) refused the message: "
            f"HTTP {reply.status}{detail}",
            file=sys.stderr,
        )
        return 1
    print(f"sent a test message through {route.key} ({destination.type}): HTTP {reply.status}")
    return 0
