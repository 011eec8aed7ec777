"""`canary demo`'s story, told live on the playground stack.

1. my-app v1 (2 replicas) and its Canary are applied; the controller initialises the primary.
2. The load generator sends steady user traffic through Envoy to `my-app`.
3. v2 is released (`image: my-app:2.0.0`): mirrored, shifted step by step, analysed, promoted.
4. v3 is released (`my-app:3.0.0-errors`, 10 % of answers are 500) without the mirror phase, so
   users meet it at 20 %; the analysis fails and the controller rolls it back.
5. Traffic goes on for a few seconds (all on v2), then everything stops.

Nothing here decides anything: every phase, weight and verdict is the controller's, read back from
the Canary and the VirtualService; the counts come from the load generator's record and Envoy's
access logs. `Recorder` samples both ten times a second while the story runs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from canary.playground.demo_stack import PlaygroundError, Stack

JSON = dict[str, Any]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo"
GROUP, VERSION, PLURAL = "canary.dev", "v1alpha1", "canaries"
NAMESPACE, NAME = "default", "my-app"
V1, V2, V3 = (
    "ghcr.io/example/my-app:1.0.0",
    "ghcr.io/example/my-app:2.0.0",
    "ghcr.io/example/my-app:3.0.0-errors",
)


class DemoFailed(Exception):
    """The story did not unfold as expected (exit code 1): the message says where it stopped."""


@dataclass(frozen=True)
class Timings:
    """How long each part of the story may take or lasts, in seconds."""

    manifest: str
    baseline: float
    tail: float
    rate: float
    run_timeout: float

    @staticmethod
    def of(quick: bool) -> Timings:
        if quick:
            return Timings("my-app-quick.yaml", baseline=1.0, tail=2.0, rate=170, run_timeout=60)
        return Timings("my-app.yaml", baseline=5, tail=5, rate=150, run_timeout=150)


@dataclass
class Sample:
    """What the Canary and the VirtualService said at one moment (time: UNIX seconds)."""

    time: float
    phase: str
    canary_weight: int
    primary_weight: int
    mirror: int
    message: str
    status_weights: tuple[int, int] = (0, 0)
    """(canary, mirror) as the status says: the controller writes it just after the routes, so
    the live view pairs each message with these, not with the VirtualService's newer weights."""
    previous_read: float = 0.0
    """When the VirtualService was last read still in the state before this one (UNIX s; 0 for
    the first sample): the change happened after it, and at most `time` (samples are kept only
    on a change, so `time` alone cannot bound it from below)."""


@dataclass
class Recorder:
    """Samples the Canary and VirtualService every `period` s; keeps changes and every decision."""

    api_client: client.ApiClient
    period: float = 0.1
    samples: list[Sample] = field(default_factory=list)
    decisions: dict[tuple[str, str, str], JSON] = field(default_factory=dict)
    on_change: Callable[[Sample], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_read: float = 0.0

    def start(self) -> Recorder:
        self._thread = threading.Thread(target=self._run, name="demo-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling, then take a last sample if the API still answers (best effort: this
        runs while the playground shuts down, and must not hide why it does)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # Any error: a timeout from urllib3 as much as an ApiException.
        with contextlib.suppress(Exception):
            self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.sample()
            except Exception:
                continue

    def sample(self) -> Sample | None:
        custom = client.CustomObjectsApi(self.api_client)
        try:
            canary: Any = custom.get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, NAME, _request_timeout=5
            )
        except client.ApiException:
            return None
        status = canary.get("status") or {}
        for entry in status.get("history") or []:
            key = (entry.get("time", ""), entry.get("phase", ""), entry.get("reason", ""))
            self.decisions.setdefault(key, entry)
        read_at = time.time()
        primary, weight, mirror = live_weights(custom)
        sample = Sample(
            time.time(),
            status.get("phase", ""),
            weight,
            primary,
            mirror,
            status.get("message", ""),
            (int(status.get("canaryWeight") or 0), int(status.get("mirrorWeight") or 0)),
            self._last_read,
        )
        self._last_read = read_at
        last = self.samples[-1] if self.samples else None
        if last is None or (
            last.phase,
            last.canary_weight,
            last.primary_weight,
            last.mirror,
            last.message,
        ) != (
            sample.phase,
            sample.canary_weight,
            sample.primary_weight,
            sample.mirror,
            sample.message,
        ):
            self.samples.append(sample)
            if self.on_change is not None:
                self.on_change(sample)
        return sample

    def decision_list(self) -> list[JSON]:
        return sorted(self.decisions.values(), key=lambda e: str(e.get("time", "")))


def live_weights(custom: client.CustomObjectsApi) -> tuple[int, int, int]:
    """(primary weight, canary weight, mirror percent) in the VirtualService now; (0, 0, 0) if none."""
    try:
        vs: Any = custom.get_namespaced_custom_object(
            "networking.istio.io", "v1", NAMESPACE, "virtualservices", NAME, _request_timeout=5
        )
    except client.ApiException:
        return 0, 0, 0
    for route in (vs.get("spec") or {}).get("http") or []:
        if route.get("name") != "primary-canary":
            continue
        weights = {
            d["destination"]["host"].split(".")[0]: int(d.get("weight", 0))
            for d in route.get("route") or []
        }
        mirror = 0
        if route.get("mirror"):
            mirror = round(float((route.get("mirrorPercentage") or {}).get("value", 100)))
        return weights.get(f"{NAME}-primary", 0), weights.get(f"{NAME}-canary", 0), mirror
    return 0, 0, 0


def apply_manifest(api_client: client.ApiClient, path: Path) -> None:
    """Create the Deployment and the Canary of a demo manifest."""
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        if doc["kind"] == "Deployment":
            client.AppsV1Api(api_client).create_namespaced_deployment(NAMESPACE, doc)
        else:
            client.CustomObjectsApi(api_client).create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, doc
            )


def set_image(api_client: client.ApiClient, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": NAME, "image": image}]}}}}
    client.AppsV1Api(api_client).patch_namespaced_deployment(NAME, NAMESPACE, patch)


def canary_status(api_client: client.ApiClient) -> JSON:
    obj: Any = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, NAME, _request_timeout=5
    )
    status: JSON = obj.get("status") or {}
    return status


def wait_for(stack: Stack, what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll `check` every 0.2 s; DemoFailed at the timeout, PlaygroundError if a child crashed."""
    deadline = time.monotonic() + timeout
    while not check():
        if stack.supervisor.crash is not None:
            raise PlaygroundError(f"{stack.supervisor.crash}; the playground stopped")
        if time.monotonic() > deadline:
            assert stack.api_client is not None
            status = canary_status(stack.api_client)
            raise DemoFailed(
                f"{what} did not happen within {timeout:.0f} s (Canary phase "
                f"{status.get('phase')!r}: {status.get('message', '')})"
            )
        time.sleep(0.2)


@dataclass
class Story:
    """When each part of the story happened (UNIX seconds)."""

    started: float = 0.0
    initialized: float = 0.0
    load_started: float = 0.0
    v2_released: float = 0.0
    v2_done: float = 0.0
    v3_released: float = 0.0
    v3_done: float = 0.0
    ended: float = 0.0
    final_phases: dict[str, str] = field(default_factory=dict)
    final: JSON = field(default_factory=dict)


def tell(
    stack: Stack, timings: Timings, recorder: Recorder, load: Any, say: Callable[[str], None]
) -> Story:
    """Run the story on a started stack (see the module doc); the moments it happened."""
    api = stack.api_client
    assert api is not None
    story = Story(started=time.time())
    say("v1 serves users: applying my-app v1 and its Canary")
    apply_manifest(api, EXAMPLES / timings.manifest)
    wait_for(
        stack,
        "the primary's initialisation",
        lambda: canary_status(api).get("phase") == "Initialized",
        60,
    )
    story.initialized = time.time()
    wait_for(stack, "Envoy routing my-app", lambda: mesh_serves(stack.mesh_url, NAME), 15)
    load.start()
    story.load_started = time.time()
    say(f"load: {timings.rate:.0f} requests/s through Envoy to my-app")
    time.sleep(timings.baseline)

    def run_done(before: str) -> Callable[[], bool]:
        def check() -> bool:
            status = canary_status(api)
            revision = status.get("lastAppliedSpec", "")
            return revision != before and status.get("phase") in ("Succeeded", "Failed")

        return check

    say("v2 released: mirrored first, then shifted step by step")
    before = canary_status(api).get("lastAppliedSpec", "")
    story.v2_released = time.time()
    set_image(api, V2)
    wait_for(stack, "v2's rollout", run_done(before), timings.run_timeout)
    story.v2_done = time.time()
    story.final_phases["2.0.0"] = canary_status(api).get("phase", "")

    say("v3 released (10 % errors), without the mirror phase: users meet it at 20 %")
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        NAME,
        {"spec": {"strategy": {"canary": {"mirror": None}}}},
    )
    before = canary_status(api).get("lastAppliedSpec", "")
    story.v3_released = time.time()
    set_image(api, V3)
    wait_for(stack, "v3's rollout", run_done(before), timings.run_timeout)
    story.v3_done = time.time()
    story.final_phases["3.0.0-errors"] = canary_status(api).get("phase", "")
    time.sleep(timings.tail)
    load.stop()
    story.ended = time.time()
    story.final = final_state(api)
    return story


def mesh_serves(url: str, host: str) -> bool:
    """Whether Envoy answers a request for `host` from a pod (200 with an x-app-version)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=2)
    try:
        connection.request("GET", "/", headers={"Host": host})
        answer = connection.getresponse()
        answer.read()
        return answer.status == 200 and bool(answer.getheader("x-app-version"))
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def final_state(api: client.ApiClient) -> JSON:
    """The end state the test checks: the Canary, both Deployments and the live weights."""
    apps = client.AppsV1Api(api)
    status = canary_status(api)
    primary: Any = apps.read_namespaced_deployment(f"{NAME}-primary", NAMESPACE)
    target: Any = apps.read_namespaced_deployment(NAME, NAMESPACE)
    weights = live_weights(client.CustomObjectsApi(api))
    return {
        "canary": {
            "phase": status.get("phase"),
            "message": status.get("message", ""),
            "conditions": status.get("conditions", []),
            "metrics": status.get("metrics", []),
        },
        "primary": {
            "image": primary.spec.template.spec.containers[0].image,
            "replicas": primary.spec.replicas,
        },
        "target": {
            "image": target.spec.template.spec.containers[0].image,
            "replicas": target.spec.replicas,
        },
        "weights": {"primary": weights[0], "canary": weights[1], "mirror": weights[2]},
    }


def dump_jsonl(path: Path, rows: list[JSON]) -> Path:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path
