"""Lease-based leader election: one holder at a time, takeover only after the lease expires."""

from __future__ import annotations

from canary.controller.leader import LeaderElector
from canary.kube.client import Kube, raw
from canary.sandbox import testing
from tests.controller.kube_harness import ON_A_CLUSTER, FakeMonotonic

pytestmark = ON_A_CLUSTER


def _elector(
    env: testing.Environment, namespace: str, identity: str, clock: FakeMonotonic
) -> LeaderElector:
    kube = Kube.of(env.api_client)
    return LeaderElector(
        kube,
        namespace,
        "canary-controller",
        identity,
        lease_seconds=15,
        renew_deadline=10,
        clock=clock,
    )


def _holder(env: testing.Environment, namespace: str) -> str | None:
    lease = raw(
        Kube.of(env.api_client).coordination.read_namespaced_lease, "canary-controller", namespace
    )
    holder = lease["spec"].get("holderIdentity")
    return str(holder) if holder else None


def test_the_first_candidate_takes_the_lease_and_the_second_waits(
    env: testing.Environment, namespace: str
) -> None:
    clock = FakeMonotonic()
    a, b = _elector(env, namespace, "a", clock), _elector(env, namespace, "b", clock)

    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.advance(5)
    assert a.try_acquire_or_renew(), "the holder renews"
    assert not b.try_acquire_or_renew()

    assert (a.is_leader(), b.is_leader(), _holder(env, namespace)) == (True, False, "a")


def test_a_lease_that_is_not_renewed_is_taken_over_after_it_expires(
    env: testing.Environment, namespace: str
) -> None:
    clock = FakeMonotonic()
    a, b = _elector(env, namespace, "a", clock), _elector(env, namespace, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()

    clock.advance(10)
    assert not a.is_leader(), "a leader that could not renew within the deadline stops acting"
    assert not b.try_acquire_or_renew(), "the lease has not expired yet"
    clock.advance(6)
    assert b.try_acquire_or_renew()

    assert _holder(env, namespace) == "b"
    assert not a.try_acquire_or_renew(), "the old leader sees the new holder"


def test_a_released_lease_is_taken_at_once(env: testing.Environment, namespace: str) -> None:
    clock = FakeMonotonic()
    a, b = _elector(env, namespace, "a", clock), _elector(env, namespace, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()

    a.release()

    assert b.try_acquire_or_renew()
    assert _holder(env, namespace) == "b"


def test_a_tick_reports_each_change_of_leadership_and_never_raises(
    env: testing.Environment, namespace: str
) -> None:
    """The scheduler runs `tick` every retry period; an error in it must not end the renewals."""
    server = env.require_emulator()
    clock = FakeMonotonic()
    changes: list[bool] = []
    a = _elector(env, namespace, "a", clock)
    a.on_change = changes.append

    a.tick()
    server.api.inject(testing.Fault("GET", "/leases/", 403, times=1, reason="Forbidden"))
    a.tick()  # the read is refused: logged, not raised; the lease is still fresh
    clock.advance(11)
    server.api.inject(testing.Fault("GET", "/leases/", 403, times=1, reason="Forbidden"))
    a.tick()  # refused again, and now past the renew deadline: no longer the leader
    a.tick()  # renewed

    assert changes == [True, False, True]
