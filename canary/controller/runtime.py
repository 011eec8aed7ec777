"""The running controller: watches feed a work queue, workers reconcile, a Lease picks the leader."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from canary.api.common import GROUP, VERSION, parse_duration
from canary.controller.endpoints import Endpoints
from canary.controller.leader import LeaderElector
from canary.controller.metrics import ControllerMetrics
from canary.controller.queue import WorkQueue, backoff
from canary.controller.reconcile import Reconciler
from canary.controller.requests import REQUEST_ANNOTATION
from canary.controller.scheduling import SchedulerTimers, Timers
from canary.controller.sharding import Shard
from canary.controller.watches import METADATA_ONLY, Watcher, with_caches
from canary.kube.client import Kube
from canary.kube.names import PRIMARY_SUFFIX
from canary.kube.revision import ConfigRefs, config_refs

JSON = dict[str, Any]
Key = tuple[str, str]
log = structlog.get_logger("canary.controller")
DEFAULT_INTERVAL = 60.0


@dataclass
class Options:
    """How the controller runs (the CLI flags)."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces to watch; empty means all."""
    workers: int = 4
    """Canaries reconciled at the same time (one Canary is never reconciled twice at once)."""
    leader_elect: bool = False
    lease_name: str = "canary-controller"
    lease_namespace: str = "default"
    identity: str = "canary-controller"
    lease_seconds: float = 15.0
    renew_deadline: float = 10.0
    retry_seconds: float = 2.0
    metrics_addr: str | None = ":8080"
    watch_timeout: int = 300
    shard: str | None = None
    """Own only Canaries labelled canary.dev/shard=<shard> (None: those without the label)."""


@dataclass
class Index:
    """What the watches learnt, to map a Deployment or config event to the Canaries it concerns."""

    canaries: dict[Key, tuple[Any, ...]] = field(default_factory=dict)
    """Canary key -> what in it calls for a reconcile (generation, deletion, request)."""
    targets: dict[Key, str] = field(default_factory=dict)
    """Canary key -> target Deployment name."""
    intervals: dict[Key, float] = field(default_factory=dict)
    """Canary key -> its analysis interval in seconds (the cap of its retry backoff)."""
    configs: dict[Key, ConfigRefs] = field(default_factory=dict)
    """(namespace, Deployment) -> the ConfigMaps and Secrets its pods use."""


def _key(obj: JSON) -> Key:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def _canary_signature(obj: JSON) -> tuple[Any, ...]:
    """Changes that need a reconcile now; status writes (ours) are deliberately not among them."""
    meta = obj.get("metadata", {})
    annotations = meta.get("annotations") or {}
    return (
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        annotations.get(REQUEST_ANNOTATION),
    )


def _interval(obj: JSON) -> float:
    """The Canary's analysis interval in seconds (the default when absent or unreadable)."""
    text = ((obj.get("spec") or {}).get("analysis") or {}).get("interval")
    try:
        return parse_duration(text) if isinstance(text, str) else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def _selecting(call: Callable[..., Any], selector: str) -> Callable[..., Any]:
    """`call` with `label_selector` set; keeps its docstring, from which the client's watch
    learns the return type and the name of the watch parameter."""
    bound = functools.partial(call, label_selector=selector)
    functools.update_wrapper(bound, call)
    return bound


class Controller:
    """Wires the watches, the queue, the workers, leader election and the endpoints together."""

    def __init__(
        self,
        kube: Kube,
        reconciler: Reconciler,
        options: Options,
        metrics: ControllerMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        timers: Timers[Key] | None = None,
    ) -> None:
        self.kube, self.reconciler, self.options = kube, reconciler, options
        self.metrics = metrics or ControllerMetrics()
        self.shard = Shard(options.shard)
        self.scheduler: SchedulerTimers[Key] | None = None
        if timers is None:
            # Requeues and lease renewal share one scheduler thread (see scheduling.py).
            self.scheduler = SchedulerTimers(clock)
            timers = self.scheduler
        self.queue: WorkQueue[Key] = WorkQueue(timers)
        self.index = Index()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failures: dict[Key, int] = {}
        self._rechecks: dict[Key, float] = {}
        """The requeue each Canary's last successful reconcile asked for."""
        self.elector = (
            LeaderElector(
                kube,
                options.lease_namespace,
                self.shard.lease_name(options.lease_name),
                options.identity,
                options.lease_seconds,
                options.renew_deadline,
                options.retry_seconds,
                on_change=self._leadership_changed,
            )
            if options.leader_elect
            else None
        )
        self.reconciler.may_write = self.is_leader
        if self.reconciler.observer is None:
            self.reconciler.observer = self.metrics
        # The caches the reconciler reads through self.kube (canary.kube.cache).
        self.watchers = with_caches(
            kube, self._watchers(), options.namespaces, options.watch_timeout
        )
        self.endpoints = (
            Endpoints(options.metrics_addr, self.metrics.registry, self.healthy, self.ready)
            if options.metrics_addr
            else None
        )

    # Life cycle

    def start(self) -> None:
        if self.endpoints is not None:
            self.endpoints.start()
        if self.scheduler is not None:
            self.scheduler.start()
        if self.elector is not None:
            if self.scheduler is not None:
                self.scheduler.every("lease", self.options.retry_seconds, self.elector.tick)
            else:
                self._spawn("leader-election", functools.partial(self.elector.run, self._stop))
        for watcher in self.watchers:
            self._spawn(f"watch-{watcher.name}", functools.partial(watcher.run, self._stop))
        for number in range(self.options.workers):
            self._spawn(f"worker-{number}", self._work)
        log.info(
            "controller started",
            namespaces=self.options.namespaces or "all",
            workers=self.options.workers,
            leader_elect=self.options.leader_elect,
            shard=self.shard.selector,
        )

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.stop_every("lease")
        self.queue.shutdown()
        for watcher in self.watchers:
            watcher.stop()
        for thread in self._threads:
            thread.join(timeout)
        if self.elector is not None and self.scheduler is not None:
            self.elector.release()
        if self.endpoints is not None:
            self.endpoints.stop()

    def request_stop(self) -> None:
        """Ask run_forever() to stop (safe from a signal handler)."""
        self._stop.set()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # Health

    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader()

    def healthy(self) -> bool:
        return not self._stop.is_set() and all(t.is_alive() for t in self._threads)

    def ready(self) -> bool:
        return self.healthy() and all(w.synced.is_set() for w in self.watchers)

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.leader.set(1 if leader else 0)
        if leader:
            # A new leader has nothing in its queue that it acted on: look at every Canary now.
            with self._lock:
                keys = list(self.index.canaries)
            for key in keys:
                self.queue.add(key)

    # Workers

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self._reconcile(key)
            finally:
                self.queue.done(key)

    def _reconcile(self, key: Key) -> None:
        namespace, name = key
        if not self.is_leader():
            return
        with self._lock:
            known = key in self.index.canaries
        if not known:
            # Deleted, or moved to another shard: nothing to do here but drop its series.
            self._failures.pop(key, None)
            self._rechecks.pop(key, None)
            if self.reconciler.observer is not None:
                self.reconciler.observer.forget(namespace, name)
            return
        started = time.monotonic()
        try:
            requeue = self.reconciler.reconcile(namespace, name)
        except Exception as error:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            with self._lock:
                interval = self.index.intervals.get(key, DEFAULT_INTERVAL)
            delay = backoff(failures, interval, self._rechecks.get(key))
            self.metrics.reconcile_failed(namespace, name)
            log.warning(
                "reconcile failed",
                canary=name,
                namespace=namespace,
                error=str(error),
                retry_in=delay,
            )
            self.queue.add(key, delay)
            return
        finally:
            self.metrics.reconciles.observe(time.monotonic() - started)
        self._failures.pop(key, None)
        if requeue is not None:
            self._rechecks[key] = requeue
            self.queue.add(key, requeue)
        else:
            self._rechecks.pop(key, None)

    # Watches

    def _watchers(self) -> list[Watcher]:
        core, apps, custom = self.kube.core, self.kube.apps, self.kube.custom
        timeout = self.options.watch_timeout
        kinds: list[
            tuple[
                str,
                Callable[..., Any],
                tuple[Any, ...],
                Callable[..., Any],
                tuple[Any, ...],
                Callable[[str, JSON], None],
            ]
        ] = [
            (
                "canaries",
                custom.list_namespaced_custom_object,
                (GROUP, VERSION),
                custom.list_cluster_custom_object,
                (GROUP, VERSION, "canaries"),
                self.on_canary,
            ),
            (
                "deployments",
                apps.list_namespaced_deployment,
                (),
                apps.list_deployment_for_all_namespaces,
                (),
                self.on_deployment,
            ),
            (
                "configmaps",
                core.list_namespaced_config_map,
                (),
                core.list_config_map_for_all_namespaces,
                (),
                self.on_config,
            ),
            (
                "secrets",
                core.list_namespaced_secret,
                (),
                core.list_secret_for_all_namespaces,
                (),
                self.on_config,
            ),
        ]
        watchers = []
        for name, namespaced, prefix, cluster, cluster_args, handler in kinds:
            if name == "canaries":
                # Only this shard's Canaries are listed, watched and held.
                namespaced = _selecting(namespaced, self.shard.selector)
                cluster = _selecting(cluster, self.shard.selector)
            # Config changes need only names: the data of every Secret is never listed or held.
            headers = METADATA_ONLY if name in ("configmaps", "secrets") else None
            if not self.options.namespaces:
                watchers.append(
                    Watcher(name, cluster, cluster_args, handler, timeout, headers=headers)
                )
                continue
            for namespace in self.options.namespaces:
                args = (*prefix, namespace, "canaries") if name == "canaries" else (namespace,)
                watchers.append(
                    Watcher(
                        f"{name}/{namespace}", namespaced, args, handler, timeout, headers=headers
                    )
                )
        return watchers

    def on_canary(self, event: str, obj: JSON) -> None:
        key = _key(obj)
        signature = _canary_signature(obj)
        if not self.shard.owns(obj.get("metadata", {}).get("labels")):
            event = "DELETED"  # the server filters already; this holds if one does not
        with self._lock:
            if event == "DELETED":
                self.index.canaries.pop(key, None)
                self.index.targets.pop(key, None)
                self.index.intervals.pop(key, None)
                changed = True
            else:
                changed = self.index.canaries.get(key) != signature
                self.index.canaries[key] = signature
                target = (obj.get("spec", {}).get("targetRef") or {}).get("name")
                if target:
                    self.index.targets[key] = target
                self.index.intervals[key] = _interval(obj)
        if changed:
            self.queue.add(key)

    def on_deployment(self, event: str, obj: JSON) -> None:
        namespace, name = _key(obj)
        template = obj.get("spec", {}).get("template") or {}
        with self._lock:
            if event == "DELETED":
                self.index.configs.pop((namespace, name), None)
            elif not name.endswith(PRIMARY_SUFFIX):
                self.index.configs[(namespace, name)] = config_refs(template)
            base = name.removesuffix(PRIMARY_SUFFIX)
            keys = [
                k for k, t in self.index.targets.items() if k[0] == namespace and t in (name, base)
            ]
        for key in keys:
            self.queue.add(key)

    def on_config(self, event: str, obj: JSON) -> None:
        namespace, name = _key(obj)
        if name.endswith(PRIMARY_SUFFIX):
            return
        with self._lock:
            users = {
                deployment
                for (ns, deployment), refs in self.index.configs.items()
                if ns == namespace and (name in refs.config_maps or name in refs.secrets)
            }
            keys = [k for k, t in self.index.targets.items() if k[0] == namespace and t in users]
        for key in keys:
            self.queue.add(key)
