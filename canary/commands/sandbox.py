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
    up = commands.add_parser(
        "up",
        help="run the whole playground: API, workloads, Envoy mesh, metrics, the controller",
        description="Starts the API emulator (canary and Istio CRDs), the workload runner, one "
        "Envoy, Istio metrics (a real prometheus when on PATH) and the controller, prints a "
        "kubeconfig and keeps running. Ctrl-C or SIGTERM stops every process. Exit codes: 0 "
        "stopped, 1 a child process crashed (everything else stopped), 2 could not start.",
    )
    up.add_argument("--workdir", type=Path, metavar="DIR",
                    help="logs and the kubeconfig (default: a new temporary directory)")  # fmt: skip
    up.add_argument("--api-port", type=int, default=0, help="API emulator port (default: free)")
    up.add_argument("--mesh-port", type=int, default=0, help="Envoy listener (default: free)")
    up.add_argument("--metrics", choices=["auto", "prometheus", "embedded"], default="auto",
                    help="real prometheus (auto: when on PATH) or the embedded provider")  # fmt: skip
    up.add_argument("--kubeconfig-out", type=Path, metavar="FILE",
                    help="also copy the kubeconfig here")  # fmt: skip
    up.set_defaults(handler=run_up)


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


def run_up(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from canary.playground.demo_stack import PlaygroundError, Stack, StackOptions

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="canary-sandbox-"))
    stack = Stack(StackOptions(workdir=workdir, api_port=args.api_port, mesh_port=args.mesh_port,
                               metrics=args.metrics))  # fmt: skip

    def stop(signum: int, frame: FrameType | None) -> None:
        stack.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        stack.start()
    except PlaygroundError as exc:
        print(f"canary sandbox up: {exc}", file=sys.stderr)
        return 2
    try:
        kubeconfig = stack.kubeconfig
        if args.kubeconfig_out:
            shutil.copyfile(kubeconfig, args.kubeconfig_out)
            kubeconfig = args.kubeconfig_out
        url = stack.server.url if stack.server else ""
        metrics = stack.prometheus_url or "embedded provider"
        print(f"canary sandbox up: ready (Ctrl-C stops everything)\n"
              f"  API         {url}\n"
              f"  mesh        {stack.mesh_url}  (route by Host: <service>[.<namespace>])\n"
              f"  metrics     {stack.metrics_mode}: {metrics}\n"
              f"  controller  /healthz, /metrics on {stack.controller_addr}\n"
              f"  logs        {workdir}\n"
              f"export KUBECONFIG={kubeconfig}", flush=True)  # fmt: skip
        crash = stack.wait()
    finally:
        stack.stop()
    if crash is not None:
        print(f"canary sandbox up: {crash}; stopped everything (logs in {workdir})",
              file=sys.stderr)  # fmt: skip
        return 1
    print("canary sandbox up: stopped", file=sys.stderr)
    return 0
