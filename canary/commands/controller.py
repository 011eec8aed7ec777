"""`canary controller`: runs the controller in (or against) a cluster, set up by flags or variables."""

from __future__ import annotations

import argparse
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

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
from canary.webhook_events import QueuedWebhooks
from canary.webhooks import HttpWebhookRunner

VARIABLES: dict[str, str] = {
    "namespace": "CANARY_NAMESPACES",
    "metrics_addr": "CANARY_METRICS_ADDR",
    "metrics_server": "CANARY_PROMETHEUS_URL",
    "cluster_name": "CANARY_CLUSTER_NAME",
    "default_alert_provider": "CANARY_DEFAULT_ALERT_PROVIDER",
    "default_alert_severity": "CANARY_DEFAULT_ALERT_SEVERITY",
    "allow_cross_namespace_alerts": "CANARY_ALLOW_CROSS_NAMESPACE_ALERTS",
    "leader_elect": "CANARY_LEADER_ELECT",
    "leader_election_namespace": "POD_NAMESPACE",
    "leader_election_name": "CANARY_LEADER_ELECTION_NAME",
    "workers": "CANARY_WORKERS",
    "shard": "CANARY_SHARD",
    "log_format": "CANARY_LOG_FORMAT",
    "log_level": "CANARY_LOG_LEVEL",
}
"""Option (argparse dest) -> the environment variable that sets it when its flag is not given."""

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


class FromEnvironment(str):
    """An option's default read from an environment variable: the raw text, and where it came from.

    argparse converts a string default with the option's `type` only when the flag is absent
    (so a flag wins over its variable), and `_typed` names the variable in the error.
    """

    variable: str
    fallback: object
    """The default when the variable is unset, shown in the generated reference."""

    def __new__(cls, text: str, variable: str, fallback: object) -> FromEnvironment:
        value = super().__new__(cls, text)
        value.variable, value.fallback = variable, fallback
        return value


def _typed(
    convert: Callable[[str], object], choices: Sequence[str] | None = None
) -> Callable[[str], object]:
    """An argparse `type` that also checks a variable's value (argparse checks `choices` of flags only)."""

    def typed(text: str) -> object:
        if not isinstance(text, FromEnvironment):
            return convert(text)
        try:
            value = convert(text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise argparse.ArgumentTypeError(f"${text.variable}={text!r}: {error}") from None
        if choices is not None and value not in choices:
            listed = ", ".join(choices)
            raise argparse.ArgumentTypeError(
                f"${text.variable}={text!r}: invalid choice (choose from {listed})"
            )
        return value

    return typed


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {value}")
    return value


def _switch(text: str) -> bool:
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean (one of {', '.join(TRUE + FALSE[:-1])})")


def _namespaces(text: str) -> list[str] | str:
    """A flag's one namespace, or a variable's comma-separated list."""
    if isinstance(text, FromEnvironment):
        return [name.strip() for name in text.split(",") if name.strip()]
    return text


class _Switch(argparse.Action):
    """A flag without a value that sets True, like store_true, whose default may be a variable."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, True)


class _Append(argparse.Action):
    """Like append, but the first flag replaces a list that came from a variable."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        items = getattr(namespace, self.dest, None)
        # A variable's default is still its raw text here, not a list: the flags replace it.
        items = list(items) if isinstance(items, list) else []
        setattr(namespace, self.dest, [*items, values])


def _defaults(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """Each option's default from its variable when that is set (`VARIABLES`)."""
    for action in parser._actions:
        variable = VARIABLES.get(action.dest)
        if variable is not None and variable in environ:
            action.default = FromEnvironment(environ[variable], variable, action.default)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Adds `canary controller`; each option's default is read from `environ` (os.environ if None)."""
    parser = subparsers.add_parser(
        "controller",
        help="run the controller: watch Canaries and carry out their rollouts",
        description="Watches Canary resources, their target Deployments and the ConfigMaps and "
        "Secrets those use, and carries out what the rollout engine decides.",
        epilog="Every option but --kubeconfig can also be set by an environment variable "
        "(a flag wins over its variable): "
        + ", ".join(f"{VARIABLES[dest]} ({_flag(dest)})" for dest in VARIABLES)
        + ". CANARY_NAMESPACES is a comma-separated list; the switches take true or false.",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: in-cluster, then ~/.kube/config)",
    )
    parser.add_argument(
        "--namespace",
        action=_Append,
        type=_typed(_namespaces),
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable; default: all)",
    )
    parser.add_argument(
        "--metrics-addr",
        default=":8080",
        type=_typed(str),
        metavar="ADDR",
        help="address of /healthz, /readyz and /metrics (empty to disable)",
    )
    parser.add_argument(
        "--metrics-server",
        default="http://prometheus:9090",
        type=_typed(str),
        metavar="URL",
        help="Prometheus for the built-in metrics",
    )
    parser.add_argument(
        "--cluster-name",
        default="",
        type=_typed(str),
        metavar="NAME",
        help="this cluster's name, shown in every notification",
    )
    parser.add_argument(
        "--default-alert-provider",
        default="",
        type=_typed(str),
        metavar="NS/NAME",
        help="AlertProvider for Canaries that name none",
    )
    severities = ["info", "warn", "error"]
    parser.add_argument(
        "--default-alert-severity",
        default="info",
        type=_typed(str, severities),
        choices=severities,
        help="what the default provider receives (info: everything)",
    )
    parser.add_argument(
        "--allow-cross-namespace-alerts",
        action=_Switch,
        default=False,
        type=_typed(_switch),
        help="let a Canary use an AlertProvider of another namespace (namespace/name)",
    )
    parser.add_argument(
        "--leader-elect",
        action=_Switch,
        default=False,
        type=_typed(_switch),
        help="elect a leader with a Lease; only the leader acts",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default="default",
        type=_typed(str),
        metavar="NS",
        help="namespace of the Lease (in a pod: its own, from the downward API)",
    )
    parser.add_argument(
        "--leader-election-name",
        default="canary-controller",
        type=_typed(str),
        metavar="NAME",
        help="name of the Lease",
    )
    parser.add_argument(
        "--workers",
        type=_typed(_workers),
        default=4,
        metavar="N",
        help="Canaries reconciled at the same time",
    )
    formats = ["auto", "json", "console"]
    # Sharding (docs/operations/scale.md): one block, kept together.
    parser.add_argument(
        "--shard",
        type=_typed(_shard_name),
        default=None,
        metavar="NAME",
        help="own only the Canaries labelled canary.dev/shard=NAME, electing a leader on a Lease "
        "of its own (the lease name suffixed with -NAME); without it, the Canaries that have no "
        "such label",
    )
    parser.add_argument(
        "--log-format",
        choices=formats,
        type=_typed(str, formats),
        default="auto",
        help="json by default, console on a terminal",
    )
    levels = ["debug", "info", "warning", "error"]
    parser.add_argument(
        "--log-level",
        default="info",
        choices=levels,
        type=_typed(str, levels),
        help="the least severe log lines written",
    )
    _defaults(parser, os.environ if environ is None else environ)
    parser.set_defaults(handler=run)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


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
        kube,
        IstioRouter(kube),
        analyzer,
        HttpWebhookRunner(secrets),
        notifier=notifier,
        # Its own runner and connection pool: event calls run on the queue's worker thread.
        event_webhooks=QueuedWebhooks(HttpWebhookRunner(secrets)),
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
