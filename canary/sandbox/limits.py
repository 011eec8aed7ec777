"""What the emulator refuses, as kube-apiserver does: body and object sizes, nesting, slow or idle clients, too many connections.

Numbers and answers (see docs/operations/security.md, "The emulator's limits"):

- request body: 3 MiB (`MaxRequestBodyBytes` of k8s.io/apiserver, 3145728), refused with 413
  `RequestEntityTooLarge` ("Request entity too large: limit is 3145728"), before any of it is
  read when Content-Length says so, or as soon as a chunked body passes the limit;
- a stored object: 1.5 MiB (etcd's default `--max-request-bytes`), 413 "etcdserver: request is
  too large"; the data of a ConfigMap or Secret: 1 MiB (`MaxSecretSize`), 422 `FieldValueTooLong`;
- request framing (Go's net/http answers these, before the API sees the request): a Content-Length
  that is not a plain decimal number, several differing ones, or a malformed chunk size → 400;
  a transfer coding other than chunked → 501;
- decoded bodies: nesting deeper than MAX_DEPTH, or a YAML document whose aliases expand to far
  more nodes than it has bytes ("excessive aliasing" in go-yaml), → 400 like a decoder error;
- a client that sends nothing for `read_timeout` seconds (while idle between requests, or in the
  middle of one) is hung up on; in the middle of a body it first gets a 408;
- at most `max_connections` open connections; one more is answered 429 with Retry-After, as
  kube-apiserver's max-in-flight filter answers, and closed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from canary.sandbox import errors

JSON = dict[str, Any]

MAX_REQUEST_BODY = 3 * 1024 * 1024
"""k8s.io/apiserver's default MaxRequestBodyBytes: twice etcd's limit, for JSON's overhead."""
MAX_OBJECT = 1536 * 1024
"""etcd's default --max-request-bytes (1.5 MiB): the largest object the store keeps."""
MAX_CONFIG_DATA = 1024 * 1024
"""core/v1 validation: the data of a ConfigMap or Secret (MaxSecretSize)."""
MAX_DEPTH = 100
"""Nesting levels a body may have. Go's decoder allows 10000; Python's recursion limit (1000)
does not, and no Kubernetes object needs more than a few dozen."""
MAX_LINE = 4096
"""A chunk-size line longer than this is malformed (Go allows 4 KiB of chunk extensions)."""
READ_TIMEOUT = 32.0
"""kube-apiserver's ReadHeaderTimeout, applied here to every read from the client."""
MAX_CONNECTIONS = 256
"""Open connections served at once (each holds a thread here)."""


@dataclass(frozen=True)
class Limits:
    """The HTTP server's knobs (defaults as kube-apiserver); tests shrink them."""

    max_request_body: int = MAX_REQUEST_BODY
    read_timeout: float = READ_TIMEOUT
    max_connections: int = MAX_CONNECTIONS


class Reader(Protocol):
    """The request's input stream (the handler's rfile)."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class FramingError(Exception):
    """The request cannot be read as HTTP/1.1: answered as Go's net/http does, in plain text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def too_large(limit: int) -> errors.ApiError:
    return errors.ApiError(
        413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}"
    )


def timed_out(seconds: float) -> errors.ApiError:
    return errors.ApiError(408, "Timeout", f"request body not received within {seconds:g}s")


def read_body(rfile: Reader, headers: Iterable[tuple[str, str]], limits: Limits) -> bytes:
    """The request body, read within the limits; `headers` as (name, value), repeats kept.

    Raises FramingError (400/501) for a malformed Content-Length or chunk, ApiError 413 past
    `max_request_body`, ApiError 408 when the client stops sending; the connection must then be
    closed, since the rest of the body is unread.
    """
    headers = list(headers)
    codings = [v for k, v in headers if k.lower() == "transfer-encoding"]
    coding = ",".join(codings).strip().lower()
    try:
        if coding == "chunked":
            return _read_chunked(rfile, limits.max_request_body)
        if coding not in ("", "identity"):
            raise FramingError(501, f"unsupported transfer encoding: {coding!r}")
        length = content_length(headers)
        if length > limits.max_request_body:
            raise too_large(limits.max_request_body)
        body = rfile.read(length) if length else b""
    except TimeoutError:
        raise timed_out(limits.read_timeout) from None
    if len(body) < length:
        raise FramingError(400, "unexpected EOF: the body is shorter than its Content-Length")
    return body


def content_length(headers: Iterable[tuple[str, str]]) -> int:
    """Content-Length as net/http reads it: digits only, every copy equal; 0 when absent."""
    texts = {v.strip() for k, v in headers if k.lower() == "content-length"}
    if len(texts) > 1:
        raise FramingError(400, "bad Content-Length: several different values")
    if not texts:
        return 0
    text = texts.pop()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise FramingError(400, f"bad Content-Length: {text[:40]!r}")
    return int(text)


def _read_chunked(rfile: Reader, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise FramingError(400, "malformed chunked encoding: chunk size line too long or cut")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF"
                                                        for c in size_text):  # fmt: skip
            raise FramingError(400, "malformed chunked encoding: invalid byte in chunk length")
        size = int(size_text, 16)
        if size == 0:
            _skip_trailers(rfile)
            return b"".join(chunks)
        total += size
        if total > limit:
            raise too_large(limit)
        chunk = rfile.read(size)
        if len(chunk) < size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise FramingError(400, "malformed chunked encoding: chunk data cut or not ended")
        chunks.append(chunk)


def _skip_trailers(rfile: Reader) -> None:
    for _ in range(100):
        line = rfile.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return
    raise FramingError(400, "malformed chunked encoding: too many trailers")


def check_structure(decoded: Any, body_size: int, max_depth: int = MAX_DEPTH) -> None:
    """400 when `decoded` nests deeper than `max_depth` or is far larger than its text.

    Walks without recursion, so that the check itself cannot overflow the stack. A YAML alias
    repeats a node without repeating its bytes: more nodes than 2 x bytes + 100 is the alias
    bomb ("billion laughs") go-yaml refuses as "excessive aliasing".
    """
    budget = 2 * body_size + 100
    stack: list[tuple[Any, int]] = [(decoded, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > budget:
            raise errors.bad_request("yaml: document contains excessive aliasing")
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= max_depth and value:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: exceeded max depth {max_depth}"
            )
        stack.extend((child, depth + 1) for child in children)


def object_size(obj: JSON) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def check_object(kind: str, obj: JSON, limit: int = MAX_OBJECT) -> list[errors.Cause]:
    """The 422 causes for a too-large ConfigMap or Secret; 413 for any object over `limit`."""
    if object_size(obj) > limit:
        raise errors.ApiError(413, "RequestEntityTooLarge", "etcdserver: request is too large")
    if kind not in ("ConfigMap", "Secret"):
        return []
    total = 0
    for name in ("data", "binaryData", "stringData"):
        encoded = name == "binaryData" or (name == "data" and kind == "Secret")
        for key, value in (obj.get(name) or {}).items():
            size = len(str(value)) if value is not None else 0
            # base64 values count as the bytes they stand for, as the typed object holds them
            total += len(str(key)) + (size * 3 // 4 if encoded else size)
    if total <= MAX_CONFIG_DATA:
        return []
    return [
        errors.Cause(
            "FieldValueTooLong",
            f"Too long: must have at most {MAX_CONFIG_DATA} bytes",
            "data" if kind == "Secret" else "",
        )
    ]


class ConnectionSlots:
    """At most `limit` connections at once; the next one is answered 429 and closed."""

    def __init__(self, limit: int) -> None:
        self._free = threading.BoundedSemaphore(limit)

    def acquire(self) -> bool:
        return self._free.acquire(blocking=False)

    def release(self) -> None:
        self._free.release()


REFUSAL = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
)


def refuse(connection: socket.socket) -> None:
    """Answer a connection over the limit with kube-apiserver's max-in-flight 429, best effort."""
    body = json.dumps(
        errors.ApiError(
            429, "TooManyRequests", "Too many requests, please try again later."
        ).status()
        | {"details": {"retryAfterSeconds": 1}}
    ).encode()
    try:
        connection.settimeout(1.0)
        connection.sendall(REFUSAL + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass  # the client left already: nothing to tell it
