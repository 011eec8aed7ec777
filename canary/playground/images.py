"""The image -> local command mapping: how the workload runner turns a container into a process.

| image (any registry prefix) | process | environment |
|---|---|---|
| `my-app:<tag>`, `canary-demo-app:<tag>` | `python examples/app/server.py` | `APP_VERSION=<tag>`, then the tag's suffix |

Tag suffixes set the sample app's behaviour (`examples/app/server.py` documents the variables):
`-errors` answers 10 % of requests with 500 (`APP_ERROR_RATE=0.1`), `-slow` makes the median
latency 400 ms (`APP_LATENCY_MS=400`); `3.0.0-errors` is version `3.0.0-errors`. The container's
literal `env` values come last and win, so a Deployment can also say
`env: [{name: APP_ERROR_RATE, value: "0.2"}]`. The runner adds `PORT`. Any other image has no
mapping: its pods stay Pending and the Deployment gets a Warning Event `NoLocalCommand`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import canary

APP = Path(canary.__file__).resolve().parents[1] / "examples" / "app" / "server.py"
"""The sample app, from a source checkout."""

SAMPLE_APP_IMAGES = re.compile(
    r"^(?:[^/]+/)*(?:my-app|canary-demo-app):(?P<tag>[\w][\w.-]{0,127})$"
)
TAG_SUFFIXES: dict[str, dict[str, str]] = {
    "-errors": {"APP_ERROR_RATE": "0.1"},
    "-slow": {"APP_LATENCY_MS": "400"},
}


class NoLocalCommand(ValueError):
    """The image has no entry in the mapping (the message says which images do)."""


@dataclass(frozen=True)
class Command:
    """A process to run for one container: argv and extra environment (the runner adds PORT)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def command_for(container: dict[str, Any]) -> Command:
    """The local command for a pod template's container (a JSON dict); NoLocalCommand if none."""
    image = str(container.get("image") or "")
    match = SAMPLE_APP_IMAGES.match(image)
    if match is None:
        raise NoLocalCommand(
            f"no local command for image {image!r}: the playground runs images named "
            "my-app:<tag> or canary-demo-app:<tag> (any registry) as examples/app/server.py"
        )
    if not APP.exists():
        raise NoLocalCommand(f"the sample app {APP} is missing (run from a source checkout)")
    tag = match["tag"]
    env = {"APP_VERSION": tag}
    for suffix, extra in TAG_SUFFIXES.items():
        if suffix in tag:
            env.update(extra)
    for item in container.get("env") or []:
        if "value" in item and item.get("name"):
            env[str(item["name"])] = str(item["value"])
    return Command([sys.executable, "-u", str(APP)], env)
