"""Fault injection: a share of requests fail (by verb and resource) or lose their connection, and watches are cut.

    faults = FaultPlan(rate=0.1, clients=("canary-controller",), watch_cut=5.0, seed=1)
    server = ApiServer(faults=faults)          # or server.faults.set(faults) while running

Each matching request draws once: with probability `rate` it gets one of `outcomes`, chosen
uniformly among those that apply to its verb. A status code is answered before the request is
carried out; `cut-before` hangs up without carrying it out; `cut-after` carries it out and then
hangs up without answering (so the client cannot know the write happened). 409 applies only to
writes. A watch is cut (the connection shut down mid-stream) after a uniform random time up to
`watch_cut` seconds.
"""

from __future__ import annotations

import collections
import contextlib
import random
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from canary.sandbox import errors

CUT_BEFORE = "cut-before"
CUT_AFTER = "cut-after"
Outcome = int | str
OUTCOMES: tuple[Outcome, ...] = (500, 503, 429, 409, CUT_BEFORE, CUT_AFTER)
CODES = (409, 429, 500, 502, 503, 504)
VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})
WRITES = frozenset({"create", "update", "patch", "delete"})
_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class FaultPlan:
    """What to break. Empty `verbs`, `resources` or `clients` means every one."""

    rate: float = 0.0
    """Probability in [0, 1] that a matching request fails."""
    outcomes: tuple[Outcome, ...] = OUTCOMES
    """Status codes (409, 429, 500, 502, 503, 504) and `cut-before` / `cut-after`."""
    verbs: frozenset[str] = frozenset()
    """Kubernetes verbs: get, list, watch, create, update, patch, delete."""
    resources: frozenset[str] = frozenset()
    """Resource plurals (`deployments`, `canaries`, `events`...); a subresource counts as its resource."""
    clients: tuple[str, ...] = ()
    """User-Agent prefixes: only requests from these clients fail."""
    retry_after: int = 1
    """Seconds sent in `Retry-After` with a 429."""
    watch_cut: float = 0.0
    """Cut each watch after a uniform random time up to this many seconds; 0 never cuts."""
    seed: int | None = None
    limit: int | None = None
    """Stop after this many injected faults (e.g. 1: only the next matching request fails)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate: {self.rate} is not in [0, 1]")
        for outcome in self.outcomes:
            if outcome not in (*CODES, CUT_BEFORE, CUT_AFTER):
                raise ValueError(
                    f"outcomes: {outcome!r} is not one of {', '.join(map(str, CODES))}, "
                    f"{CUT_BEFORE}, {CUT_AFTER}"
                )
        if not self.outcomes:
            raise ValueError("outcomes: at least one is needed")
        unknown = self.verbs - VERBS
        if unknown:
            raise ValueError(f"verbs: {', '.join(sorted(unknown))} not among {sorted(VERBS)}")
        if self.retry_after < 0 or self.watch_cut < 0:
            raise ValueError("retry-after and watch-cut must not be negative")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """The `--faults` syntax: comma-separated `key=value`, lists separated by `:`.

        `rate=0.1,outcomes=500:503:429:409:cut-before:cut-after,verbs=get:patch,
        resources=deployments:canaries,clients=canary-controller,retry-after=1,watch-cut=5,seed=1,
        limit=100`.
        Raises ValueError naming the key at fault.
        """
        plan = cls()
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{item!r}: expected key=value")
            values = tuple(v for v in value.split(":") if v)
            try:
                match key.strip():
                    case "rate":
                        plan = replace(plan, rate=float(value))
                    case "outcomes":
                        plan = replace(
                            plan, outcomes=tuple(int(v) if v.isdigit() else v for v in values)
                        )
                    case "verbs":
                        plan = replace(plan, verbs=frozenset(values))
                    case "resources":
                        plan = replace(plan, resources=frozenset(values))
                    case "clients":
                        plan = replace(plan, clients=values)
                    case "retry-after":
                        plan = replace(plan, retry_after=int(value))
                    case "watch-cut":
                        plan = replace(plan, watch_cut=float(value))
                    case "seed":
                        plan = replace(plan, seed=int(value))
                    case "limit":
                        plan = replace(plan, limit=int(value))
                    case _:
                        raise ValueError("unknown key")
            except ValueError as error:
                message = str(error)
                raise ValueError(
                    message if message.startswith(f"{key}:") else f"{key}: {message}"
                ) from error
        return plan


@dataclass(frozen=True)
class Injected:
    """What to do to one request."""

    outcome: Outcome | None = None
    """A status code, `cut-before`, `cut-after`, or None to serve it normally."""
    watch_cut: float | None = None
    """For a watch: seconds after which its connection is shut down."""
    retry_after: int = 0

    @property
    def cut_before(self) -> bool:
        return self.outcome == CUT_BEFORE

    @property
    def cut_after(self) -> bool:
        return self.outcome == CUT_AFTER

    def error(self) -> errors.ApiError | None:
        if not isinstance(self.outcome, int):
            return None
        code = self.outcome
        return errors.ApiError(code, _REASONS.get(code, ""), f"injected fault ({code})")


def verb_and_resource(method: str, path: str, query: str) -> tuple[str, str]:
    """The Kubernetes verb and resource plural of a REST request (`""` for non-resource paths)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return "", ""
    watch = bool(rest) and rest[0] == "watch"
    rest = rest[1:] if watch else rest
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return "", ""
    named = len(rest) > 1
    if method == "GET":
        watch = watch or "watch=true" in query or "watch=1" in query
        verb = "watch" if watch else ("get" if named else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            method, ""
        )
    return verb, rest[0]


@dataclass
class Faults:
    """The emulator's fault injector: thread-safe, seeded, and counting what it injected."""

    plan: FaultPlan = field(default_factory=FaultPlan)
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    """How many of each outcome (`"500"`, `"cut-after"`, `"watch-cut"`...) were injected."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.plan.seed)
        self._count = 0

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan (reseeded, its `limit` counted afresh) while the server runs."""
        with self._lock:
            self.plan = plan
            self._random = random.Random(plan.seed)
            self._count = 0

    def clear(self) -> None:
        self.set(FaultPlan())

    def decide(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> Injected:
        plan = self.plan
        if plan.rate <= 0 and plan.watch_cut <= 0:
            return Injected()
        verb, resource = verb_and_resource(method, path, query)
        if not verb or not self._matches(plan, verb, resource, headers):
            return Injected()
        with self._lock:
            cut = self._random.uniform(0, plan.watch_cut) if verb == "watch" else 0.0
            spent = plan.limit is not None and self._count >= plan.limit
            if spent or self._random.random() >= plan.rate:
                return Injected(watch_cut=cut or None)
            self._count += 1
            choices = [o for o in plan.outcomes if o != 409 or verb in WRITES]
            if not choices:
                return Injected(watch_cut=cut or None)
            outcome = self._random.choice(choices)
            self.injected[str(outcome)] += 1
        return Injected(outcome, cut or None, plan.retry_after if outcome == 429 else 0)

    @staticmethod
    def _matches(plan: FaultPlan, verb: str, resource: str, headers: Mapping[str, str]) -> bool:
        agent = headers.get("user-agent", "")
        return (
            (not plan.verbs or verb in plan.verbs)
            and (not plan.resources or resource in plan.resources)
            and (not plan.clients or agent.startswith(plan.clients))
        )

    def count_watch_cut(self) -> None:
        with self._lock:
            self.injected["watch-cut"] += 1


def hang_up(connection: socket.socket) -> None:
    """Shut the connection down both ways: the client sees it reset or ended mid-answer."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def hang_up_later(connection: socket.socket, seconds: float, faults: Faults) -> threading.Timer:
    """Cut a watch stream after `seconds` (cancel the returned timer when the stream ends first)."""

    def cut() -> None:
        faults.count_watch_cut()
        hang_up(connection)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    return timer
