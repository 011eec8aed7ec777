"""Reads a rollout no longer makes: each test counts the controller's requests to the emulator.

The rule (issue 16): during a rollout, the writes the steps need plus one read per conflict. Each
test here pins one read that used to be made beyond that, and the conflict that still costs one.
"""

from __future__ import annotations

from collections import Counter

from canary.kube.cache import RecordedEvents
from canary.kube.client import raw
from canary.sandbox import testing
from tests.controller.kube_fixtures import secret
from tests.controller.kube_harness import Harness
from tests.controller.test_cache import NEW_IMAGE, _by_verb, cached

SECOND_IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.2"


def _counts(harness: Harness) -> dict[str, int]:
    """Each Event about the Canary by name, and its count."""
    return {e["metadata"]["name"]: int(e.get("count") or 1) for e in harness.events()}


def _roll_out(harness: Harness, image: str) -> None:
    harness.update_target(image)
    harness.run_until(lambda: harness.phase() == "Progressing")
    harness.run_until(lambda: harness.phase() == "Succeeded")


def _two_rollouts(harness: Harness) -> tuple[dict[str, int], Counter[tuple[str, str]]]:
    """Initialise, roll out NEW_IMAGE, then SECOND_IMAGE; the Events' counts before the second
    rollout, and the controller's requests during it."""
    harness.given_target()
    harness.given_canary()
    harness.settle()
    harness.run_until(lambda: harness.phase() == "Initialized")
    _roll_out(harness, NEW_IMAGE)
    return _counts(harness), Counter()


def test_an_event_repeated_by_a_second_rollout_is_counted_without_a_read(
    harness: Harness,
) -> None:
    with cached(harness):
        before, _ = _two_rollouts(harness)
        since = len(harness.controller_requests)

        _roll_out(harness, SECOND_IMAGE)

        counts = _by_verb(harness, since)
        after = _counts(harness)
        repeated = [name for name, count in before.items() if after[name] > count]
        assert repeated, "the second rollout repeated no Event"
        assert counts[("get", "events")] == 0, counts
        assert counts[("patch", "events")] == sum(after[n] - before[n] for n in repeated)
        assert all(after[name] == before[name] + 1 for name in repeated), (before, after)
        assert harness.image("podinfo-primary") == SECOND_IMAGE


def test_after_a_restart_an_event_recorded_before_costs_one_read_for_its_conflict(
    harness: Harness,
) -> None:
    with cached(harness) as (kube, _):
        before, _ = _two_rollouts(harness)
        kube.cache.events = RecordedEvents()  # a new process remembers no Event
        since = len(harness.controller_requests)

        _roll_out(harness, SECOND_IMAGE)

        counts = _by_verb(harness, since)
        after = _counts(harness)
        repeated = [name for name, count in before.items() if after[name] > count]
        assert repeated, "the second rollout repeated no Event"
        # One create refused (AlreadyExists) and one GET per Event of the earlier process, once:
        # a second repeat of the same Event in this process would be a patch alone.
        assert counts[("get", "events")] == len(repeated), counts
        assert all(after[name] == before[name] + 1 for name in repeated), (before, after)


def test_an_event_that_expired_is_created_again(harness: Harness) -> None:
    with cached(harness) as (kube, _):
        before, _ = _two_rollouts(harness)
        for name in before:  # the API server's event TTL ran out
            harness.kube.core.delete_namespaced_event(name, harness.namespace)
        since = len(harness.controller_requests)

        _roll_out(harness, SECOND_IMAGE)

        counts = _by_verb(harness, since)
        after = _counts(harness)
        assert set(before) & set(after), "the second rollout repeated no Event"
        assert counts[("get", "events")] == 0, counts
        assert all(count == 1 for count in after.values()), after
        assert len(kube.cache.events) >= len(after)


HPA = {"autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "name": "podinfo"}}  # fmt: skip
HPAS = ("get", "horizontalpodautoscalers")


def _hpa_reads_per_reconcile(harness: Harness, done: str) -> list[int]:
    """Reconcile until phase `done`; the GETs of HPAs each reconcile made."""
    reads = []
    for _ in range(60):
        if harness.phase() == done:
            return reads
        since = len(harness.controller_requests)
        harness.tick()
        reads.append(_by_verb(harness, since)[HPAS])
    raise AssertionError(f"not {done} after 60 reconciles")


def test_an_initialisation_and_a_promotion_read_each_hpa_once(harness: Harness) -> None:
    with cached(harness):
        harness.given_target(replicas=2)
        harness.given_autoscaler(low=2, high=6)
        harness.given_canary(**HPA)
        harness.settle()
        initialising = _hpa_reads_per_reconcile(harness, "Initialized")
        harness.patch_autoscaler("podinfo", {"spec": {"maxReplicas": 10}})
        harness.update_target(NEW_IMAGE)
        harness.run_until(lambda: harness.phase() == "Progressing")
        rolling = _hpa_reads_per_reconcile(harness, "Succeeded")

        # The target's HPA and the primary's, once each, in the reconcile that writes them
        # (it used to be twice each); one read of the target's when the canary scales up.
        assert max(initialising) == 2, initialising
        assert max(rolling) == 2, rolling
        primary = harness.autoscaler("podinfo-primary")
        assert primary is not None
        assert primary["spec"]["maxReplicas"] == 10
        assert harness.image("podinfo-primary") == NEW_IMAGE


def test_a_canary_without_an_hpa_never_asks_for_one(harness: Harness) -> None:
    with cached(harness):
        harness.given_target()
        harness.given_canary()
        harness.settle()
        since = len(harness.controller_requests)
        harness.run_until(lambda: harness.phase() == "Initialized")
        _roll_out(harness, NEW_IMAGE)

        verbs = {verb for verb, resource in _by_verb(harness, since) if "autoscalers" in resource}
        assert verbs == set()


def _reads_by_reconcile(harness: Harness, done: str) -> list[Counter[str]]:
    """Reconcile until phase `done`; the GETs each reconcile made, by resource."""
    reads = []
    for _ in range(60):
        if harness.phase() == done:
            return reads
        since = len(harness.controller_requests)
        harness.tick()
        counts = _by_verb(harness, since)
        reads.append(Counter({res: n for (verb, res), n in counts.items() if verb == "get"}))
    raise AssertionError(f"not {done} after 60 reconciles")


def test_a_promotion_reads_no_config_map_copy_and_a_secret_and_its_copy_once(
    harness: Harness,
) -> None:
    with cached(harness):
        harness.given_config_map("settings", color="blue")
        raw(
            harness.kube.core.create_namespaced_secret,
            harness.namespace,
            secret("token", harness.namespace),
        )
        harness.given_target(config_map="settings", secret="token")
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        harness.update_target(NEW_IMAGE)
        harness.run_until(lambda: harness.phase() == "Progressing")

        reads = _reads_by_reconcile(harness, "Succeeded")

        # The ConfigMap's copy is known from its metadata watch and the copy written last. A
        # Secret's data is never held (its checksum is): the promotion reads the source and its
        # copy once each (the owner check uses the metadata watch: it used to read the copy
        # twice, and the source at every reconcile).
        assert [r["configmaps"] for r in reads] == [0] * len(reads), reads
        assert sorted(r["secrets"] for r in reads) == [0] * (len(reads) - 1) + [2], reads
        assert harness.config_map("settings-primary")["data"] == {"color": "blue"}
        assert harness.image("podinfo-primary") == NEW_IMAGE


def test_a_changed_config_map_costs_one_read_of_its_source_and_none_of_its_copy(
    harness: Harness,
) -> None:
    with cached(harness):
        harness.given_config_map("settings", color="blue")
        harness.given_target(config_map="settings")
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)

        harness.replace_config_map("settings", color="green")
        harness.run_until(lambda: harness.phase() == "Progressing")
        harness.run_until(lambda: harness.phase() == "Succeeded")

        counts = _by_verb(harness, since)
        assert counts[("get", "configmaps")] == 1, counts  # the source, once its version moved
        assert counts[("patch", "configmaps")] == 1, counts  # the copy, by the promotion
        assert harness.config_map("settings-primary")["data"] == {"color": "green"}


def test_a_conflict_on_scaling_the_target_costs_one_read_and_not_the_reconcile(
    harness: Harness,
) -> None:
    with cached(harness):
        harness.given_target()
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        assert harness.replicas("podinfo") == 0
        harness.update_target(NEW_IMAGE)
        server = harness.env.require_emulator()
        # As when the Deployment controller writes the target's status just before our patch.
        server.api.inject(testing.Fault("PATCH", "/deployments/podinfo", 409, 1, "Conflict"))
        since = len(harness.controller_requests)

        harness.tick()

        counts = _by_verb(harness, since)
        assert counts[("get", "deployments")] == 1, counts
        assert counts[("patch", "deployments")] == 2, counts
        assert harness.replicas("podinfo") == 2
        assert harness.phase() == "Progressing"
