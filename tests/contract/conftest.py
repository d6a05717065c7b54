"""A tiny recording HTTP server on 127.0.0.1 that answers with scripted responses.

The client under test uses the real :class:`RequestsTransport` and
``base_url=http://127.0.0.1:<port>``, so these tests see exactly the bytes that would
go to Amazon: method, raw path, query, every header and the body.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from saleor_amazonpay.core import AmazonPayClient, CallRecord, RequestsTransport, RetryPolicy, Timeouts, signing


@dataclass
class Received:
    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case name -> value
    header_counts: dict[str, int]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Scripted:
    status: int = 200
    body: "bytes | dict | list | str | None" = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    request_id: "str | None" = "auto"
    drop: bool = False  # close the connection without answering

    def encoded_body(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


class RecordingServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._counter = 0
        self.default = Scripted(200, {})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.handle_error = lambda request, client_address: None  # keep test output clean
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- scripting -----------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._script.clear()
            self.default = Scripted(200, {})

    def enqueue(self, *responses: Scripted) -> None:
        with self._lock:
            self._script.extend(responses)

    def respond(self, status: int = 200, body: Any = None, **kwargs: Any) -> None:
        self.enqueue(Scripted(status, body if body is not None else {}, **kwargs))

    def _next(self) -> Scripted:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _request_id(self, scripted: Scripted) -> "str | None":
        if scripted.request_id != "auto":
            return scripted.request_id
        with self._lock:
            self._counter += 1
            return f"req-{self._counter:04d}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the handler ---------------------------------------------------------------------

    def _handler_class(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format, *args):  # noqa: A002 - silence stderr
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                counts: dict[str, int] = {}
                for name in self.headers.keys():
                    counts[name.lower()] = counts.get(name.lower(), 0) + 1
                record = Received(
                    method=self.command,
                    target=self.path,
                    path=path,
                    query=query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    header_counts=counts,
                    body=body,
                    at=time.monotonic(),
                )
                with server._lock:
                    server.received.append(record)
                scripted = server._next()
                if scripted.delay:
                    time.sleep(scripted.delay)
                if scripted.drop:
                    self.close_connection = True
                    return
                payload = scripted.encoded_body()
                try:
                    self.send_response(scripted.status)
                    request_id = server._request_id(scripted)
                    if request_id:
                        self.send_header("x-amz-pay-request-id", request_id)
                    if "content-type" not in {k.lower() for k in scripted.headers}:
                        self.send_header("Content-Type", "application/json")
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        return Handler


@pytest.fixture(scope="session")
def _server_instance():
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def server(_server_instance: RecordingServer) -> RecordingServer:
    _server_instance.reset()
    yield _server_instance
    _server_instance.reset()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClientHarness:
    """A client plus what it did: call records and the sleeps it asked for."""

    def __init__(self, client: AmazonPayClient, records: list[CallRecord], sleeps: list[float]):
        self.client = client
        self.records = records
        self.sleeps = sleeps


@pytest.fixture
def make_client(make_config, server, frozen_clock) -> Callable[..., ClientHarness]:
    transports: list[RequestsTransport] = []

    def factory(
        *, retry: "RetryPolicy | None" = None, clock: Any = frozen_clock, base_url: "str | None" = None, **config: Any
    ) -> ClientHarness:
        config.setdefault("timeouts", Timeouts(connect=1, read=0.5))
        cfg = make_config(base_url=base_url or server.base_url, **config)
        records: list[CallRecord] = []
        sleeps: list[float] = []
        transport = RequestsTransport()
        transports.append(transport)

        def sleep(seconds: float) -> None:  # never really sleeps: keeps the suite fast
            sleeps.append(seconds)

        client = AmazonPayClient(
            cfg, transport=transport, retry=retry, clock=clock, sleep=sleep, observers=[records.append]
        )
        return ClientHarness(client, records, sleeps)

    yield factory
    for transport in transports:
        transport.close()


# --- signature verification of what the server received ----------------------------------------

SALT_LENGTH = {"AMZN-PAY-RSASSA-PSS": 20, "AMZN-PAY-RSASSA-PSS-V2": 32}


def verify_received(received: Received, public_key) -> signing.Authorization:
    """Check the authorization header against the received bytes, two independent ways."""
    auth = signing.parse_authorization(received.headers["authorization"])
    canonical = signing.canonical_request(
        received.method, received.path, received.query, received.headers, auth.signed_headers, received.body
    )
    to_sign = signing.string_to_sign(auth.algorithm, canonical)
    assert signing.verify(public_key, auth.algorithm, to_sign, auth.signature), (
        "package verifier rejected the signature"
    )

    # By hand, straight from the spec, with the raw received header values.
    by_hand = (
        f"{received.method}\n{received.path}\n{received.query}\n"
        + "".join(f"{name}:{received.headers[name].strip()}\n" for name in auth.signed_headers)
        + "\n"
        + ";".join(auth.signed_headers)
        + "\n"
        + hashlib.sha256(received.body).hexdigest()
    )
    assert by_hand == canonical
    message = f"{auth.algorithm.value}\n{hashlib.sha256(by_hand.encode('utf-8')).hexdigest()}"
    try:
        public_key.verify(
            base64.b64decode(auth.signature),
            message.encode("utf-8"),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH[auth.algorithm.value]),
            hashes.SHA256(),
        )
    except InvalidSignature:  # pragma: no cover - the assertion message is the point
        raise AssertionError("signature does not verify against the received bytes") from None
    return auth


@pytest.fixture
def verify_signature(public_key) -> Callable[[Received], signing.Authorization]:
    return lambda received: verify_received(received, public_key)
