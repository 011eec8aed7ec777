"""The operator commands against the emulator with the controller reconciling: requests change
the rollout (status and VirtualService), the controller answers each one, two operators do not
overwrite each other, `status --wait` exits as documented, and errors say how to fix them."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canary import cli
from canary.engine.types import Routes
from canary.operate.api import Api
from canary.operate.kubeconfig import connect
from canary.operate.requests import send
from canary.sandbox import testing
from tests.controller.kube_harness import Harness

JSON = dict[str, Any]


def run_cli(harness: Harness, *args: str) -> tuple[int, str]:
    """`canary ARGS -n NAMESPACE --kubeconfig ...` as a process: exit code, stdout + stderr.

    A process, not a call, because the reconciler logs to this process's stdout meanwhile.
    """
    flags = ["-n", harness.namespace, "--kubeconfig", str(harness.env.kubeconfig)]
    done = subprocess.run(
        [sys.executable, "-m", "canary", *args, *flags],
        capture_output=True, text=True, timeout=60, env=cli_env(),
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def cli_env() -> dict[str, str]:
    """This checkout first on the path, as the tests import it."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    return env


def annotation(harness: Harness) -> str:
    meta = harness.canary_object()["metadata"]
    return str((meta.get("annotations") or {}).get("canary.dev/request", ""))


def while_reconciling(
    harness: Harness, command: Callable[[], tuple[int, str]], until: Callable[[], bool]
) -> tuple[int, str]:
    """Runs `command` in a thread while the controller reconciles once `until()` holds."""
    result: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: result.append(command()))
    thread.start()
    testing.eventually(until, timeout=10)
    harness.tick()
    thread.join(timeout=20)
    assert result, "the command did not finish"
    return result[0]


def request(harness: Harness, *args: str) -> tuple[int, str]:
    """A request command that waits for the answer while the controller reconciles once."""
    before = annotation(harness)
    return while_reconciling(
        harness,
        lambda: run_cli(harness, *args, "--wait-timeout", "15"),
        lambda: annotation(harness) != before,
    )


def rollout_at_first_step(harness: Harness) -> None:
    harness.given_initialized(strategy={"canary": {"stepWeight": 10, "maxWeight": 50}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 10)


def test_promote_takes_the_next_step_now_and_says_the_controller_accepted_it(
    harness: Harness,
) -> None:
    rollout_at_first_step(harness)
    harness.analyzer.raises = True  # the analysis alone could not advance

    code, output = request(harness, "promote", "podinfo")

    assert (code, output.strip()) == (
        0,
        f"promote: accepted by the controller on canary {harness.namespace}/podinfo: "
        "passing the current gate or step now",
    )
    assert harness.routes() == Routes(80, 20)
    assert harness.status()["lastRequest"]["outcome"] == "Accepted"
    reasons = [e["reason"] for e in harness.events()]
    assert "RequestAccepted" in reasons


def test_promote_full_skips_the_remaining_steps(harness: Harness) -> None:
    rollout_at_first_step(harness)

    code, _ = request(harness, "promote", "podinfo", "--full")
    harness.run_until(lambda: harness.phase() == "Succeeded", limit=6)

    assert code == 0
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert harness.routes() == Routes(100, 0)
    assert max(e["canaryWeight"] for e in harness.status()["history"]) == 10


def test_abort_rolls_back_now_and_retry_runs_the_revision_again(harness: Harness) -> None:
    rollout_at_first_step(harness)

    code, _ = request(harness, "abort", "podinfo")
    assert code == 0
    assert harness.phase() == "Aborted"
    assert harness.routes() == Routes(100, 0)
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.0"
    generation = harness.existing_deployment("podinfo")["metadata"]["generation"]

    code, output = request(harness, "retry", "podinfo")
    assert code == 0, output
    assert harness.phase() == "Progressing"
    harness.run_until(lambda: harness.routes().canary == 10)
    target = harness.existing_deployment("podinfo")
    assert target["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    assert target["spec"]["replicas"] > 0
    # Scaling up is the controller's; the pod template, what the operator owns, is untouched.
    assert target["metadata"]["generation"] >= generation


def test_pause_holds_the_weight_and_resume_goes_on(harness: Harness) -> None:
    rollout_at_first_step(harness)

    code, _ = request(harness, "pause", "podinfo")
    assert code == 0
    for _ in range(4):
        harness.tick()
    assert (harness.phase(), harness.routes()) == ("Paused", Routes(90, 10))

    code, _ = request(harness, "resume", "podinfo")
    assert code == 0
    harness.run_until(lambda: harness.routes().canary == 20, limit=6)


def test_a_request_that_cannot_be_carried_out_is_refused_with_the_reason(
    harness: Harness,
) -> None:
    harness.given_initialized()
    harness.patch_canary({"status": {}})  # no-op on the main resource; keeps the RV moving
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")

    code, output = request(harness, "promote", "podinfo")

    assert code == 1
    assert output.strip() == "promote: nothing to promote, the Canary is Succeeded"
    warnings = [e for e in harness.events() if e["reason"] == "RequestRefused"]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"


def test_an_unknown_kind_gets_an_event_instead_of_silence(harness: Harness) -> None:
    harness.given_initialized()
    harness.patch_canary({"metadata": {"annotations": {"canary.dev/request": "promte/1"}}})
    harness.tick()

    last = harness.status()["lastRequest"]
    assert (last["outcome"], last["kind"]) == ("Refused", "promte")
    (event,) = [e for e in harness.events() if e["reason"] == "RequestRefused"]
    assert "unknown request kind 'promte'" in event["message"]


def test_a_request_the_controller_has_not_seen_yet_says_so(harness: Harness) -> None:
    harness.given_initialized()

    code, output = run_cli(harness, "abort", "podinfo", "--wait-timeout", "0.3")

    assert code == 2
    assert "not seen by the controller yet" in output
    assert annotation(harness).startswith("abort/")


def test_a_second_request_does_not_overwrite_one_still_waiting(harness: Harness) -> None:
    rollout_at_first_step(harness)
    code, _ = run_cli(harness, "pause", "podinfo", "--no-wait")
    assert code == 0
    first = annotation(harness)

    code, output = run_cli(harness, "abort", "podinfo", "--no-wait")

    assert code == 1
    assert f"another request ({first}) is waiting for the controller" in output
    assert annotation(harness) == first
    harness.tick()
    assert harness.phase() == "Paused"


def test_two_writers_racing_one_wins_and_the_other_is_told(harness: Harness) -> None:
    """Both read the Canary before either writes: the resourceVersion precondition makes the
    second write fail (409), and on reading again it finds the first request waiting."""
    rollout_at_first_step(harness)
    connection = connect(str(harness.env.kubeconfig), None, harness.namespace)
    stale = Api(connection).get_canary("podinfo")

    class SlowReader(Api):
        """Its first read is the one made before the other operator wrote."""

        reads = 0

        def get_canary(self, name: str, namespace: str | None = None) -> JSON:
            self.reads += 1
            return stale if self.reads == 1 else super().get_canary(name, namespace)

    winner = send(Api(connection), "podinfo", "abort")
    with pytest.raises(Exception, match=r"another request \(abort/.*\) is waiting"):
        send(SlowReader(connection), "podinfo", "promote")

    assert annotation(harness) == winner
    harness.tick()
    assert harness.phase() == "Aborted"


def test_force_replaces_a_waiting_request(harness: Harness) -> None:
    harness.given_initialized()
    run_cli(harness, "pause", "podinfo", "--no-wait")
    code, _ = run_cli(harness, "abort", "podinfo", "--no-wait", "--force")
    assert code == 0
    assert annotation(harness).startswith("abort/")


def status_wait(harness: Harness, timeout: str = "60s") -> tuple[int, str]:
    return run_cli(harness, "status", "podinfo", "--wait", "--timeout", timeout)


def test_status_wait_exits_0_when_the_rollout_of_the_new_revision_succeeds(
    harness: Harness,
) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    flags = ["-n", harness.namespace, "--kubeconfig", str(harness.env.kubeconfig)]
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "status", "podinfo", "--wait", "--timeout", "60s", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    # The Canary still says Initialized, for the old revision: status --wait must not stop there.
    assert first.startswith("Initialized")
    harness.run_until(lambda: harness.phase() == "Succeeded")
    rest, _ = process.communicate(timeout=20)

    assert process.returncode == 0, first + rest
    assert rest.splitlines()[-1].startswith("Succeeded")


def test_status_wait_exits_1_when_the_rollout_fails(harness: Harness) -> None:
    from canary.analysis.results import Verdict

    harness.given_initialized(analysis={"interval": "1s", "threshold": 1, "metrics": [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}}]})  # fmt: skip
    harness.analyzer.verdict = Verdict.FAIL
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")

    code, output = status_wait(harness)

    assert code == 1
    assert output.startswith("Failed")


def test_status_wait_exits_2_on_timeout(harness: Harness) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.tick()

    code, output = status_wait(harness, timeout="1500ms")

    assert code == 2
    assert "timed out after 1500ms" in output


def test_status_exits_3_when_the_canary_does_not_exist(harness: Harness) -> None:
    code, output = run_cli(harness, "status", "nothing-here", "--wait")
    assert code == 3
    assert f"no Canary 'nothing-here' in namespace {harness.namespace}" in output


def test_a_request_forbidden_by_rbac_names_the_verb_the_resource_and_the_fix(
    harness: Harness,
) -> None:
    server = harness.env.require_emulator()
    harness.given_initialized()
    server.api.inject(testing.Fault("PATCH", "/canaries/podinfo", 403, times=1, reason="Forbidden"))

    code, output = run_cli(harness, "abort", "podinfo")

    assert code == 3
    assert output.startswith("error: forbidden: you may not patch canaries.canary.dev")
    assert f"in namespace {harness.namespace}" in output
    assert f"kubectl auth can-i patch canaries.canary.dev -n {harness.namespace}" in output
    assert "Traceback" not in output


def test_without_the_crds_the_error_says_to_install_them(tmp_path: Path) -> None:
    with testing.sandbox() as bare:
        out = io.StringIO()
        with contextlib.redirect_stderr(out):
            code = cli.main(["list", "--kubeconfig", str(bare.kubeconfig)])
    assert code == 3
    assert "the Canary CRDs are not installed" in out.getvalue()
    assert "kubectl apply -k crds/" in out.getvalue()


def test_without_a_kubeconfig_the_error_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        code = cli.main(["get", "my-app"])
    assert code == 3
    assert "no kubeconfig: ~/.kube/config does not exist" in out.getvalue()


def test_get_and_list_show_the_live_rollout(harness: Harness) -> None:
    rollout_at_first_step(harness)

    code, view = run_cli(harness, "get", "podinfo", "--no-color")
    assert code == 0
    assert "Progressing" in view
    assert "step 1 of 5" in view
    assert "canary 10%" in view
    assert "ghcr.io/stefanprodan/podinfo:6.0.1" in view

    code, table = run_cli(harness, "list")
    assert code == 0
    assert table.splitlines()[1].split()[:5] == [
        harness.namespace,
        "podinfo",
        "▶",
        "Progressing",
        "10%",
    ]

    code, text = run_cli(harness, "get", "podinfo", "-o", "json")
    assert code == 0
    assert '"canaryWeight": 10' in text


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_finds_the_plugin_and_runs_it(harness: Harness, tmp_path: Path) -> None:
    harness.given_initialized()
    plugin_dir = tmp_path / "bin"
    plugin_dir.mkdir()
    plugin = plugin_dir / "kubectl-canary"
    # The plugin as the package installs it: an executable named kubectl-canary on PATH.
    plugin.write_text(
        f"#!{sys.executable}\nfrom canary.cli import main\nraise SystemExit(main())\n"
    )
    plugin.chmod(0o755)
    completer = plugin_dir / "kubectl_complete-canary"
    completer.write_text(
        f"#!{sys.executable}\nfrom canary.operate.kubectl_complete import main\n"
        "raise SystemExit(main())\n"
    )
    completer.chmod(0o755)
    env = {**cli_env(), "PATH": f"{plugin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["KUBECONFIG"] = str(harness.env.kubeconfig)

    plugins = subprocess.run(
        ["kubectl", "plugin", "list"], env=env, capture_output=True, text=True, timeout=30
    )
    assert str(plugin) in plugins.stdout

    listed = subprocess.run(
        ["kubectl", "canary", "list", "-n", harness.namespace],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "podinfo" in listed.stdout
    assert "Initialized" in listed.stdout

    # kubectl's own completion asks the plugin's completer: commands, then Canary names.
    words = subprocess.run(
        ["kubectl", "__complete", "canary", "pro"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "promote" in words.stdout.splitlines()
    names = subprocess.run(
        ["kubectl", "__complete", "canary", "get", "-n", harness.namespace, ""],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "podinfo" in names.stdout.splitlines()


def test_get_watch_prints_each_change_and_ends_with_the_rollout(harness: Harness) -> None:
    harness.given_initialized(strategy={"canary": {"stepWeight": 25, "maxWeight": 50}})
    flags = ["-n", harness.namespace, "--kubeconfig", str(harness.env.kubeconfig)]
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "get", "podinfo", "--watch", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "Initialized" in first, "at rest, the watch waits for the next rollout"

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    while harness.phase() != "Succeeded":
        harness.tick()
        time.sleep(
            0.6
        )  # each step lasts long enough to be drawn (changes within 0.2 s share a frame)
    rest, _ = process.communicate(timeout=20)

    assert process.returncode == 0
    titles = [line for line in (first + rest).splitlines() if line.startswith("podinfo  (")]
    phases = [title.split()[3] for title in titles]
    assert phases[0] == "Initialized"
    assert phases[-1] == "Succeeded"
    assert "Progressing" in phases
    assert any("canary 25%" in line for line in rest.splitlines())
    frames = [frame for frame in (first + rest).split("\n\n") if frame.strip()]
    assert all(a != b for a, b in itertools.pairwise(frames)), "a frame only when changed"


def test_promote_passes_a_closed_confirm_promotion_gate(harness: Harness) -> None:
    gate = [{"name": "approval", "type": "confirm-promotion", "url": "http://gate.invalid/"}]
    harness.given_initialized(
        strategy={"canary": {"stepWeight": 50, "maxWeight": 50}},
        analysis={"interval": "1s", "threshold": 2, "webhooks": gate},
    )
    harness.webhooks.open = False
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "WaitingPromotion")

    code, output = request(harness, "promote", "podinfo")
    harness.run_until(lambda: harness.phase() == "Succeeded", limit=6)

    assert code == 0, output
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert harness.routes() == Routes(100, 0)
