"""Serving the emulator over real sockets: a threaded ``wsgiref`` server.

Besides threads, it adds what ``wsgiref.simple_server`` lacks for an emulator:

* ``RAW_URI``: the request path exactly as sent (wsgiref percent-decodes ``PATH_INFO``),
  because that is what the client signed;
* socket-level faults: when the app marks a response ``x-emulator-fault:
  connection-reset`` the connection is reset (RST) without an answer; with
  ``drop-response`` it is closed without writing the (already committed) answer;
* a ticker thread, so pending authorizations and refunds settle (and their IPNs go out)
  in real time during a browser demo, not only when the next request arrives.
"""

from __future__ import annotations

import io
import socket
import socketserver
import struct
import sys
import threading
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import EmulatorApp
from .merchants import MerchantRegistry
from .wire import FAULT_HEADER


class _Handler(WSGIRequestHandler):
    server: "_ThreadingServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.server.quiet:
            super().log_message(format, *args)

    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        environ = self.get_environ()
        environ.update({
            "RAW_URI": self.path,
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        })
        captured: dict = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.server.get_app()(environ, start_response)
        body = b"".join(result)
        headers = captured.get("headers", [])
        fault = next((v for k, v in headers if k.lower() == FAULT_HEADER), None)
        if fault in ("connection-reset", "drop-response"):
            self._abort(reset=fault == "connection-reset")
            return
        code, _, reason = captured.get("status", "500 Internal Server Error").partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _abort(self, *, reset: bool) -> None:
        self.close_connection = True
        try:
            if reset:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        except OSError:
            pass
        self.wfile = io.BytesIO()  # finish() flushes it; nothing may reach the socket


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    quiet = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can stall for
        # seconds on a sandboxed machine; the emulator only needs the address.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port
        self.setup_environ()


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class Emulator:
    """The emulator on a loopback port, in a background thread.

    >>> with Emulator(registry) as emulator:          # port 0 = a free port
    ...     client = AmazonPayClient(AmazonPayConfig(..., base_url=emulator.url))
    """

    def __init__(
        self,
        registry: "MerchantRegistry | None" = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app: "EmulatorApp | None" = None,
        public_url: "str | None" = None,
        quiet: bool = True,
        tick_interval: "float | None" = 1.0,
        **app_kwargs: Any,
    ) -> None:
        self.app = app or EmulatorApp(registry, public_url=public_url, **app_kwargs)
        self.host = host
        self._requested_port = port
        self.quiet = quiet
        self.tick_interval = tick_interval
        self._server: "_ThreadingServer | None" = None
        self._bound_port: "int | None" = None
        self._thread: "threading.Thread | None" = None
        self._ticker: "threading.Thread | None" = None
        self._stopping = threading.Event()
        #: Set by :meth:`for_testing`: AmazonPayConfig kwargs and the private key PEM.
        self.test_config: "dict | None" = None
        self.test_private_key: "str | None" = None

    # -- lifecycle ------------------------------------------------------------------------

    def _bind(self) -> "_ThreadingServer":
        server_class = _ThreadingServerV6 if ":" in self.host else _ThreadingServer
        server = server_class((self.host, self._requested_port), _Handler)
        server.quiet = self.quiet
        server.set_app(self.app)
        self._server = server
        self._bound_port = int(server.server_address[1])
        self.app.default_base_url = self.url
        return server

    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        server = self._bind()
        self._stopping.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="amazonpay-emulator", daemon=True)
        self._thread.start()
        self._start_ticker()
        return self

    def _start_ticker(self) -> None:
        if not self.tick_interval:
            return

        def run() -> None:
            while not self._stopping.wait(self.tick_interval):
                try:
                    self.app.tick()
                except Exception:  # pragma: no cover - never let the ticker die silently
                    import logging

                    logging.getLogger("saleor_amazonpay.emulator").exception("ticker failed")

        self._ticker = threading.Thread(target=run, name="amazonpay-emulator-ticker", daemon=True)
        self._ticker.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's foreground mode)."""
        server = self._server or self._bind()
        self._stopping.clear()
        self._start_ticker()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self._stopping.set()
            server.server_close()
            self._server = None

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (still known after stop(), for messages)."""
        if self._bound_port is None:
            raise RuntimeError("the emulator is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def registry(self) -> MerchantRegistry:
        return self.app.registry

    # -- helpers for tests and demos --------------------------------------------------------

    def make_test_merchant(self, env: str = "sandbox", region: str = "na", **kwargs: Any) -> "tuple[dict, str]":
        """Register a fresh merchant; ``(AmazonPayConfig kwargs with base_url=self.url, private_pem)``."""
        return self.app.make_test_merchant(env, region, base_url=self.url, **kwargs)

    @classmethod
    def for_testing(cls, env: str = "sandbox", region: str = "na", **kwargs: Any) -> "Emulator":
        """A started emulator with one registered test merchant in ``test_config``:
        ``AmazonPayClient(AmazonPayConfig(**emulator.test_config))`` just works. Call stop()."""
        key_pair = kwargs.pop("key_pair", None)
        emulator = cls(**kwargs).start()
        emulator.test_config, emulator.test_private_key = emulator.make_test_merchant(env, region, key_pair=key_pair)
        return emulator


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    registry: "MerchantRegistry | None" = None,
    *,
    public_url: "str | None" = None,
    quiet: bool = False,
    announce: "Callable[[str], None] | None" = print,
    on_ready: "Callable[[Emulator], None] | None" = None,
    **app_kwargs: Any,
) -> None:
    """Run the emulator in the foreground until Ctrl-C (what ``saleor-amazonpay emulator`` calls).

    ``on_ready`` receives the bound :class:`Emulator` (its ``url``, ``app``; ``stop()`` ends
    the call), e.g. to print the test merchant's configuration.
    """
    emulator = Emulator(registry, host=host, port=port, public_url=public_url, quiet=quiet, **app_kwargs)
    emulator._bind()
    try:
        if on_ready:
            on_ready(emulator)
        if announce:
            announce(f"Amazon Pay API emulator listening on {emulator.url} "
                     f"({len(emulator.registry)} merchant(s); admin API at {emulator.url}/_emulator/health)")
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
