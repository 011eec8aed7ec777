"""The emulator refuses what kube-apiserver refuses: oversized, malformed, deeply nested, slow and surplus requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.sandbox import limits
from canary.sandbox.server import ApiServer

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as started:
        yield started


def exchange(
    server: ApiServer, raw: bytes, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection; the status, headers and body of the answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"closed without an answer (got {data!r})")
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return int(lines[0].split()[1]), headers, body[:length]


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: sandbox",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(body: bytes) -> dict[str, object]:
    status = json.loads(body)
    assert status["kind"] == "Status", status
    assert status["status"] == "Failure", status
    return dict(status)


def config_map(name: str, value: str) -> bytes:
    return json.dumps({"metadata": {"name": name}, "data": {"k": value}}).encode()


# Sizes


def test_a_content_length_over_3_mib_is_refused_with_413_before_the_body_is_sent(
    server: ApiServer,
) -> None:
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                       "Content-Length": str(limits.MAX_REQUEST_BODY + 1)})  # fmt: skip
    code, headers, body = exchange(server, raw)
    assert code == 413
    assert status_of(body)["reason"] == "RequestEntityTooLarge"
    assert status_of(body)["message"] == "Request entity too large: limit is 3145728"
    assert headers["connection"] == "close"


def test_a_chunk_size_of_2_to_the_63_gets_413_not_a_dropped_connection(server: ApiServer) -> None:
    raw = request("POST", CONFIGMAPS, {"Transfer-Encoding": "chunked"}) + b"7fffffffffffffff\r\n"
    code, _, body = exchange(server, raw)
    assert code == 413
    assert status_of(body)["code"] == 413


def test_a_chunked_body_is_cut_off_at_the_limit_not_buffered() -> None:
    with (
        ApiServer(bounds=limits.Limits(max_request_body=64 * 1024)) as small,
        socket.create_connection((small.host, small.port), timeout=10) as sock,
    ):
        sock.sendall(request("POST", CONFIGMAPS, {"Transfer-Encoding": "chunked"}))
        chunk = b"x" * 16 * 1024
        sent = 0
        try:
            for _ in range(1000):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hangs up once it has answered
        code, _, body = read_answer(sock)
    assert code == 413
    assert "limit is 65536" in str(status_of(body)["message"])
    assert sent < 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("length", "why"),
    [("-1", "negative"), ("12abc", "not a number"), ("0x10", "hex"), ("+5", "signed")],
)
def test_a_content_length_that_is_not_a_plain_number_is_a_400(server: ApiServer, length: str,
                                                              why: str) -> None:  # fmt: skip
    raw = request("POST", CONFIGMAPS, {"Content-Length": length}) + b"{}"
    code, headers, body = exchange(server, raw, timeout=5)
    assert code == 400, why
    assert b"bad Content-Length" in body
    assert headers["connection"] == "close"


def test_two_different_content_lengths_are_a_400(server: ApiServer) -> None:
    raw = (
        f"POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        "Content-Length: 5\r\n\r\n{}"
    ).encode()
    assert exchange(server, raw)[0] == 400


@pytest.mark.parametrize("size", [b"zz", b"-1", b"", b"1" * 17])
def test_a_malformed_chunk_size_is_a_400(server: ApiServer, size: bytes) -> None:
    raw = (
        request("POST", CONFIGMAPS, {"Transfer-Encoding": "chunked"})
        + size
        + b"\r\n{}\r\n0\r\n\r\n"
    )
    code, _, body = exchange(server, raw)
    assert code == 400
    assert b"chunk" in body


def test_an_unknown_transfer_coding_is_a_501(server: ApiServer) -> None:
    raw = request("POST", CONFIGMAPS, {"Transfer-Encoding": "gzip"}) + b"{}"
    assert exchange(server, raw)[0] == 501


def test_a_well_formed_chunked_body_is_still_accepted(server: ApiServer) -> None:
    payload = config_map("chunked", "v")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:5], payload[5:]))
    raw = request("POST", CONFIGMAPS, {"Transfer-Encoding": "chunked",
                                       "Content-Type": "application/json"}) + chunks + b"0\r\n\r\n"  # fmt: skip
    code, _, body = exchange(server, raw)
    assert code == 201, body


def test_an_object_over_the_etcd_limit_gets_413(server: ApiServer) -> None:
    payload = json.dumps(
        {"metadata": {"name": "big", "annotations": {"a": "x" * (limits.MAX_OBJECT + 10)}}}
    )
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                       "Content-Length": str(len(payload))}, payload.encode())  # fmt: skip
    code, _, body = exchange(server, raw)
    assert code == 413
    assert status_of(body)["message"] == "etcdserver: request is too large"


def test_config_map_data_over_1_mib_is_invalid(server: ApiServer) -> None:
    payload = config_map("toolong", "x" * (limits.MAX_CONFIG_DATA + 1))
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                       "Content-Length": str(len(payload))}, payload)  # fmt: skip
    code, _, body = exchange(server, raw)
    assert code == 422
    status = status_of(body)
    assert status["reason"] == "Invalid"
    assert "must have at most 1048576 bytes" in str(status["message"])


def test_a_patch_cannot_grow_an_object_past_the_limit(server: ApiServer) -> None:
    created = config_map("grows", "x" * 1000)
    exchange(server, request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                                  "Content-Length": str(len(created))}, created))  # fmt: skip
    half = "y" * (limits.MAX_OBJECT // 2 + 10)
    for key in ("a", "b"):
        patch = json.dumps({"metadata": {"annotations": {key: half}}}).encode()
        code, _, _ = exchange(server, request(
            "PATCH", f"{CONFIGMAPS}/grows",
            {"Content-Type": "application/merge-patch+json", "Content-Length": str(len(patch))},
            patch))  # fmt: skip
    assert code == 413


# Nesting


def nested_json(depth: int) -> bytes:
    return b'{"metadata":{"name":"deep"},"data":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [150, 5000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(server: ApiServer, depth: int) -> None:
    payload = nested_json(depth)
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                       "Content-Length": str(len(payload))}, payload)  # fmt: skip
    code, _, body = exchange(server, raw)
    assert code == 400
    assert "max depth" in str(status_of(body)["message"])


def test_deeply_nested_yaml_is_a_400_not_a_500(server: ApiServer) -> None:
    payload = ("metadata: {name: deep}\ndata: " + "[" * 3000 + "]" * 3000).encode()
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/yaml",
                                       "Content-Length": str(len(payload))}, payload)  # fmt: skip
    code, _, body = exchange(server, raw)
    assert code == 400
    status_of(body)


def test_a_yaml_alias_bomb_is_a_400(server: ApiServer) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    payload = (
        "metadata: {name: bomb}\ndata:\n" + "\n".join("  " + line for line in lines)
    ).encode()
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/yaml",
                                       "Content-Length": str(len(payload))}, payload)  # fmt: skip
    started = time.monotonic()
    code, _, body = exchange(server, raw)
    assert code == 400
    assert "excessive aliasing" in str(status_of(body)["message"])
    assert time.monotonic() - started < 10


def test_a_normal_object_is_not_refused_by_the_nesting_check(server: ApiServer) -> None:
    payload = json.dumps(
        {"metadata": {"name": "ok"}, "data": {"k": json.dumps([[[[1]]]])}}
    ).encode()
    raw = request("POST", CONFIGMAPS, {"Content-Type": "application/json",
                                       "Content-Length": str(len(payload))}, payload)  # fmt: skip
    assert exchange(server, raw)[0] == 201


# Slow and surplus clients


def test_a_half_sent_body_is_answered_408_and_closed_after_the_read_timeout() -> None:
    with (
        ApiServer(bounds=limits.Limits(read_timeout=0.3)) as quick,
        socket.create_connection((quick.host, quick.port), timeout=10) as sock,
    ):
        sock.sendall(request("POST", CONFIGMAPS, {"Content-Length": "100"}, b"{"))
        code, _, body = read_answer(sock)
        assert code == 408
        assert status_of(body)["reason"] == "Timeout"
        assert sock.recv(1) == b""


def test_an_idle_or_half_sent_header_is_hung_up_on_after_the_read_timeout() -> None:
    with ApiServer(bounds=limits.Limits(read_timeout=0.3)) as quick:
        for sent in (b"", b"GET /version HTTP/1.1\r\nHost: x\r\n"):
            with socket.create_connection((quick.host, quick.port), timeout=10) as sock:
                sock.sendall(sent)
                started = time.monotonic()
                assert sock.recv(1) == b""
                assert time.monotonic() - started < 5


def test_connections_over_the_limit_get_429_and_threads_stay_bounded() -> None:
    with ApiServer(bounds=limits.Limits(max_connections=8, read_timeout=30)) as bounded:
        before = threading.active_count()
        held = [
            socket.create_connection((bounded.host, bounded.port), timeout=10) for _ in range(8)
        ]
        for sock in held:  # half-sent requests: each holds a thread until the timeout
            sock.sendall(b"GET /version HTTP/1.1\r\n")
        surplus = [
            socket.create_connection((bounded.host, bounded.port), timeout=10) for _ in range(40)
        ]
        answers = [read_answer(sock) for sock in surplus]
        assert {code for code, _, _ in answers} == {429}
        code, headers, body = answers[0]
        assert headers["retry-after"] == "1"
        assert status_of(body)["reason"] == "TooManyRequests"
        assert threading.active_count() - before <= 8
        for sock in surplus:
            sock.close()
        held[0].close()
        deadline = time.monotonic() + 5
        while True:  # the freed slot serves again
            code = exchange(bounded, request("GET", "/version", {}))[0]
            if code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert code == 200
        for sock in held[1:]:
            sock.close()


# Selectors


@pytest.mark.parametrize("selector", ["a in ()", "a notin ()", "a in (,)"])
def test_an_empty_value_set_in_a_label_selector_is_a_400(server: ApiServer, selector: str) -> None:
    from urllib.parse import quote

    code, _, body = exchange(
        server, request("GET", f"{CONFIGMAPS}?labelSelector={quote(selector)}", {})
    )
    assert code == 400
    assert "values set can't be empty" in str(status_of(body)["message"])


# Fuzz


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[ApiServer]:
    with ApiServer(bounds=limits.Limits(read_timeout=0.2, max_request_body=4096)) as started:
        yield started


framing = st.fixed_dictionaries(
    {},
    optional={
        "Content-Length": st.one_of(
            st.integers(-(2**70), 2**70).map(str), st.text(max_size=6)
        ),
        "Transfer-Encoding": st.sampled_from(["chunked", "gzip", "identity", "chunked, gzip", ""]),
        "Content-Type": st.sampled_from(["application/json", "application/yaml",
                                         "application/merge-patch+json"]),
    },
)  # fmt: skip
garbage = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(st.sampled_from(["0", "1", "f", "7fffffffffffffff", "zz", "-1", "10;x=y"]),
                       st.binary(max_size=20)), max_size=4).map(
        lambda chunks: b"".join(size.encode() + b"\r\n" + data + b"\r\n" for size, data in chunks)
    ),
)  # fmt: skip


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "GET", "DELETE"]), headers=framing, body=garbage
)
def test_any_framing_gets_an_http_answer_or_a_timeout_never_a_crash(
    fuzzed: ApiServer, method: str, headers: dict[str, str], body: bytes
) -> None:
    headers = {k: v.replace("\r", "").replace("\n", "") for k, v in headers.items()}
    path = f"{CONFIGMAPS}/fuzz" if method in ("PUT", "PATCH", "DELETE") else CONFIGMAPS
    with socket.create_connection((fuzzed.host, fuzzed.port), timeout=5) as sock:
        sock.sendall(request(method, path, headers, body))
        try:
            code, _, _ = read_answer(sock)
        except ConnectionError:
            code = 0  # hung up after the read timeout: acceptable for a request never finished
    assert code != 500
    assert exchange(fuzzed, request("GET", "/version", {}))[0] == 200
