"""Leader election with a coordination.k8s.io Lease: only the holder reconciles; the others wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from canary.kube.client import Kube, is_conflict, raw, read

JSON = dict[str, Any]
log = structlog.get_logger("canary.leader")


def _micro_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews a Lease; `is_leader()` is true only while the lease is ours and fresh.

    Expiry of another holder's lease is judged by how long *we* have seen its record unchanged
    (as client-go does), so clock skew between replicas does not matter.
    """

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15.0,
        renew_deadline: float = 10.0,
        retry_seconds: float = 2.0,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.lease_seconds = lease_seconds
        self.renew_deadline = renew_deadline
        self.retry_seconds = retry_seconds
        self.on_change = on_change
        self._clock = clock
        self._renewed_at: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._was_leader = False

    def is_leader(self) -> bool:
        return (
            self._renewed_at is not None and self._clock() - self._renewed_at < self.renew_deadline
        )

    def tick(self) -> None:
        """One round: acquire or renew (errors logged, never raised), then report a change.

        The controller runs this every `retry_seconds` on its scheduler (canary.controller.
        scheduling), which never runs two rounds at once and runs a late one once, not per miss.
        """
        try:
            self.try_acquire_or_renew()
        except Exception as error:
            log.warning("lease update failed", lease=self.name, error=str(error))
        self._report_change()

    def run(self, stop: threading.Event) -> None:
        """`tick` every `retry_seconds` until `stop`, then release the lease (a thread of its own,
        for callers without a scheduler)."""
        while not stop.is_set():
            self.tick()
            stop.wait(self.retry_seconds)
        self.release()

    def _report_change(self) -> None:
        leader = self.is_leader()
        if leader != self._was_leader:
            self._was_leader = leader
            log.info("leadership changed", leader=leader, identity=self.identity, lease=self.name)
            if self.on_change is not None:
                self.on_change(leader)

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        now = datetime.now(UTC)
        lease = read(self.kube.coordination.read_namespaced_lease, self.name, self.namespace)
        if lease is None:
            return self._create(now)
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        holder = spec.get("holderIdentity")
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        held_by_other = holder and holder != self.identity
        if held_by_other and self._clock() - self._observed_at < duration:
            self._renewed_at = None
            return False
        return self._update(lease, now, taking_over=holder != self.identity)

    def _create(self, now: datetime) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(now, acquired=now, transitions=0),
        }
        try:
            raw(self.kube.coordination.create_namespaced_lease, self.namespace, body)
        except Exception as error:
            if is_conflict(error):
                return False
            raise
        self._renewed_at = self._clock()
        return True

    def _spec(self, now: datetime, acquired: datetime | str, transitions: int) -> JSON:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_seconds),
            "acquireTime": acquired if isinstance(acquired, str) else _micro_time(acquired),
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions,
        }

    def _update(self, lease: JSON, now: datetime, taking_over: bool) -> bool:
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if taking_over else 0)
        acquired = now if taking_over else spec.get("acquireTime") or now
        lease["spec"] = self._spec(now, acquired, transitions)
        try:
            # A PUT carrying the resourceVersion we read: a competing candidate gets a 409.
            raw(self.kube.coordination.replace_namespaced_lease, self.name, self.namespace, lease)
        except Exception as error:
            if is_conflict(error):
                self._renewed_at = None
                return False
            raise
        self._renewed_at = self._clock()
        return True

    def release(self) -> None:
        """Give the lease up at shutdown so that another replica takes over at once."""
        if not self.is_leader():
            return
        self._renewed_at = None
        try:
            lease = read(self.kube.coordination.read_namespaced_lease, self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            raw(self.kube.coordination.replace_namespaced_lease, self.name, self.namespace, lease)
        except Exception as error:
            log.warning("lease release failed", lease=self.name, error=str(error))
        self._report_change()
