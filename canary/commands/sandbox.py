"""`canary sandbox apiserver`: run the emulated Kubernetes API server in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import yaml
from kubernetes import client

from canary import flagtypes
from canary.sandbox import crds
from canary.sandbox.deployments import Behaviour, DeploymentSimulator, Flapping, NeverReady, Ready
from canary.sandbox.errors import ApiError
from canary.sandbox.faults import FaultPlan
from canary.sandbox.server import ApiServer


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sandbox", help="local stand-ins for a cluster (API emulator)")
    commands = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    api = commands.add_parser("apiserver", help="serve the Kubernetes API from memory")
    api.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    api.add_argument(
        "--port", type=flagtypes.bounded_int(0, 65535), default=0, help="port (default: a free one)"
    )
    api.add_argument(
        "--crd",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        metavar="FILE_OR_DIR",
        help="load the CustomResourceDefinitions in this YAML file or directory",
    )
    api.add_argument(
        "--no-istio",
        dest="istio",
        action="store_false",
        help="do not load the shipped Istio VirtualService/DestinationRule CRDs",
    )
    api.add_argument(
        "--kubeconfig-out",
        type=Path,
        metavar="FILE",
        help="write a kubeconfig for this server (kubectl, the official client)",
    )
    api.add_argument(
        "--history",
        type=flagtypes.bounded_int(1, 10_000_000),
        default=10_000,
        help="changes a watch can resume from before 410 Gone (default: %(default)s)",
    )
    api.add_argument(
        "--deployments",
        choices=["off", "ready", "never", "flapping"],
        default="off",
        help="simulate the Deployment controller's status updates (default: off)",
    )
    api.add_argument(
        "--ready-delay",
        type=flagtypes.bounded_float(0, 86_400),
        default=2.0,
        help="seconds until a Deployment is ready, or the flapping period",
    )
    api.add_argument(
        "--faults",
        type=_fault_plan,
        metavar="SPEC",
        help="inject faults, e.g. rate=0.1,outcomes=500:503:429:409:cut-before:cut-after,"
        "verbs=get:patch,resources=deployments,clients=canary-controller,retry-after=1,"
        "watch-cut=5,seed=1 (see docs/operations/api-faults.md)",
    )
    api.set_defaults(handler=run_apiserver)


def _fault_plan(text: str) -> FaultPlan:
    try:
        return FaultPlan.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _behaviour(args: argparse.Namespace) -> Behaviour:
    if args.deployments == "never":
        return NeverReady()
    if args.deployments == "flapping":
        return Flapping(args.ready_delay)
    return Ready(args.ready_delay)


def run_apiserver(args: argparse.Namespace) -> int:
    paths = [crds.shipped_istio()] if args.istio else []
    try:
        server = ApiServer(
            args.host, args.port, [*paths, *args.crd], history=args.history, faults=args.faults
        )
    except (OSError, ApiError, yaml.YAMLError) as exc:
        print(f"canary sandbox apiserver: {exc}", file=sys.stderr)
        return 1
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    simulator = None
    if args.deployments != "off":
        api_client = client.ApiClient(client.Configuration(host=server.url))
        simulator = DeploymentSimulator(api_client, behaviour=_behaviour(args), tick=0.1).start()
    note = ""
    if args.kubeconfig_out:
        server.write_kubeconfig(args.kubeconfig_out)
        note = f" kubeconfig={args.kubeconfig_out}"
    print(f"canary sandbox apiserver ready url={server.url}{note}", flush=True)
    stopped.wait()
    if simulator is not None:
        simulator.stop()
    server.stop()
    return 0
