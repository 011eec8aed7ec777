"""`canary controller`: runs the controller in (or against) a cluster."""

from __future__ import annotations

import argparse
import os
import signal
import socket
from types import FrameType

from kubernetes import client, config

from canary import __version__
from canary.controller import logs
from canary.controller.metrics import ControllerMetrics
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.sharding import check_name
from canary.kube.client import Kube
from canary.kube.istio import IstioRouter
from canary.kube.sources import KubeSecrets, KubeTemplates
from canary.metrics.analyzer import MetricAnalyzer, PrometheusProviders
from canary.metrics.prometheus import PrometheusProvider
from canary.notify.delivery import Dispatcher
from canary.notify.routing import Route
from canary.notify.sources import KubeAlertProviders
from canary.webhooks import HttpWebhookRunner


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "controller",
        help="run the controller: watch Canaries and carry out their rollouts",
        description="Watches Canary resources, their target Deployments and the ConfigMaps and "
        "Secrets those use, and carries out what the rollout engine decides.",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: in-cluster, then ~/.kube/config)",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable; default: all)",
    )
    parser.add_argument(
        "--metrics-addr",
        default=":8080",
        metavar="ADDR",
        help="address of /healthz, /readyz and /metrics (default :8080; empty to disable)",
    )
    parser.add_argument(
        "--metrics-server",
        default="http://prometheus:9090",
        metavar="URL",
        help="Prometheus for the built-in metrics (default http://prometheus:9090)",
    )
    parser.add_argument(
        "--cluster-name",
        default=os.environ.get("CANARY_CLUSTER_NAME", ""),
        metavar="NAME",
        help="this cluster's name, shown in every notification (default $CANARY_CLUSTER_NAME)",
    )
    parser.add_argument(
        "--default-alert-provider",
        default=os.environ.get("CANARY_DEFAULT_ALERT_PROVIDER", ""),
        metavar="NS/NAME",
        help="AlertProvider for Canaries that name none (default $CANARY_DEFAULT_ALERT_PROVIDER)",
    )
    parser.add_argument(
        "--default-alert-severity",
        default=os.environ.get("CANARY_DEFAULT_ALERT_SEVERITY", "info"),
        choices=["info", "warn", "error"],
        help="what the default provider receives (default info: everything)",
    )
    parser.add_argument(
        "--allow-cross-namespace-alerts",
        action="store_true",
        help="let a Canary use an AlertProvider of another namespace (namespace/name)",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="elect a leader with a Lease; only the leader acts",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        metavar="NS",
        help="namespace of the Lease (default $POD_NAMESPACE or default)",
    )
    parser.add_argument(
        "--leader-election-name",
        default="canary-controller",
        metavar="NAME",
        help="name of the Lease",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help="Canaries reconciled at the same time (default 4)",
    )
    # Sharding (docs/operations/scale.md): one block, kept together.
    parser.add_argument(
        "--shard",
        type=_shard_name,
        default=None,
        metavar="NAME",
        help="own only the Canaries labelled canary.dev/shard=NAME, electing a leader on a Lease "
        "of its own (the lease name suffixed with -NAME); without it, the Canaries that have no "
        "such label",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="json by default, console on a terminal",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.set_defaults(handler=run)


def _shard_name(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def api_client(kubeconfig: str | None, workers: int) -> client.ApiClient:
    """A client from the kubeconfig given, else the in-cluster service account, else ~/.kube/config."""
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    # Four watches per namespace plus every worker and the lease hold connections at once.
    configuration.connection_pool_maxsize = max(16, workers * 2 + 12)
    api = client.ApiClient(configuration)
    # The API server's audit log (and the emulator's fault filter `clients=canary-controller`)
    # tell the controller's requests by this, not by the client library's generic agent.
    api.user_agent = f"canary-controller/{__version__}"
    return api


def build(args: argparse.Namespace) -> Controller:
    kube = Kube.of(api_client(args.kubeconfig, args.workers))
    secrets = KubeSecrets(kube)
    analyzer = MetricAnalyzer(
        PrometheusProvider(args.metrics_server),
        templates=KubeTemplates(kube),
        providers=PrometheusProviders(secrets),
    )
    metrics = ControllerMetrics()
    default = None
    if args.default_alert_provider:
        try:
            default = Route.parse(args.default_alert_provider, args.default_alert_severity)
        except ValueError as error:
            raise SystemExit(f"canary controller: --default-alert-provider: {error}") from None
    notifier = Dispatcher(
        KubeAlertProviders(kube),
        secrets,
        cluster=args.cluster_name,
        default=default,
        allow_cross_namespace=args.allow_cross_namespace_alerts,
        registry=metrics.registry,
    )
    reconciler = Reconciler(
        kube, IstioRouter(kube), analyzer, HttpWebhookRunner(secrets), notifier=notifier
    )
    options = Options(
        namespaces=list(args.namespace),
        workers=args.workers,
        leader_elect=args.leader_elect,
        lease_name=args.leader_election_name,
        lease_namespace=args.leader_election_namespace,
        identity=f"{socket.gethostname()}_{os.getpid()}",
        metrics_addr=args.metrics_addr or None,
        shard=args.shard,
    )
    return Controller(kube, reconciler, options, metrics=metrics)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_format, args.log_level)
    controller = build(args)

    def stop(signum: int, frame: FrameType | None) -> None:
        controller.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller.run_forever()
    notifier = controller.reconciler.notifier
    if isinstance(notifier, Dispatcher):
        notifier.close()  # messages already queued (a rollback's, say) are still sent
    return 0
