"""The demo storefront's tiny HTTP server (standard library only).

It serves four things:

* the page (``/``, ``/checkout``, ``/review``, ``/result``: one HTML file whose script
  decides the step from the path). ``/review`` and ``/result`` are the URLs to enter as
  the channel's *Checkout review URL* and *Checkout result URL*;
* ``/static/*``: the script and the style sheet;
* ``/config.js``: the Saleor API URL, the channel and the page's own URLs;
* ``/graphql/``: unless ``proxy=False``, a same-origin pass-through to the Saleor API URL
  (and nowhere else), so the page works with any Saleor, whatever its CORS setup. With
  ``proxy=False`` the browser calls the Saleor API URL directly, which needs Saleor to
  allow the storefront's origin (``ALLOWED_GRAPHQL_ORIGINS``; Saleor's ASGI app adds the
  CORS headers, ``manage.py runserver`` does not).

The proxy forwards the request body and ``Content-Type`` only: no cookies and no
``Authorization`` header, so the page is always an anonymous buyer.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import urlsplit

GATEWAY_ID = "saleor.payments.amazonpay"
DEFAULT_PORT = 8766
PAGES = ("/", "/checkout", "/review", "/result")
MAX_BODY = 1024 * 1024
_CHANNEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "application/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC = ("app.js", "style.css")


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def check_api_url(api_url: str) -> str:
    parts = urlsplit(api_url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the Saleor API URL must be an absolute http(s) URL, e.g. "
                         f"http://127.0.0.1:8000/graphql/ (got {api_url!r})")
    return api_url


def check_channel(channel: str) -> str:
    if not _CHANNEL_RE.fullmatch(channel or ""):
        raise ValueError(f"{channel!r} is not a channel slug")
    return channel


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.server.storefront.quiet:
            super().log_message(format, *args)

    # -- answers ------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: "list[tuple[str, str]] | None" = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in extra or ():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    # -- routes -------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        shop = self.server.storefront
        if path in PAGES:
            self._send(200, _static("index.html"), _TYPES[".html"])
        elif path == "/config.js":
            body = "window.STOREFRONT = " + json.dumps(shop.page_config(), indent=2).replace("</", "<\\/") + ";\n"
            self._send(200, body.encode(), _TYPES[".js"])
        elif path.startswith("/static/") and path[len("/static/"):] in _STATIC:
            name = path[len("/static/"):]
            self._send(200, _static(name), _TYPES["." + name.rsplit(".", 1)[1]])
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        if path != "/graphql/" or not self.server.storefront.proxy:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._json(413, {"errors": [{"message": "storefront proxy: request body too large"}]})
            return
        body = self.rfile.read(length)
        status, answer, content_type = self.server.storefront.forward(
            body, self.headers.get("Content-Type") or "application/json")
        self._send(status, answer, content_type)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    storefront: "StorefrontServer"

    def __init__(self, address: "tuple[str, int]", storefront: "StorefrontServer") -> None:
        import socket

        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.storefront = storefront
        super().__init__(address, _Handler)


class StorefrontServer:
    """The demo storefront on ``host:port`` (port 0: a free one), for one Saleor channel."""

    def __init__(self, api_url: str, channel: str, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 proxy: bool = True, quiet: bool = True, timeout: float = 60.0) -> None:
        self.api_url = check_api_url(api_url)
        self.channel = check_channel(channel)
        self.host = host
        self.port = port
        self.proxy = proxy
        self.quiet = quiet
        self.timeout = timeout
        self._server: "_Server | None" = None
        self._thread: "threading.Thread | None" = None
        hostname = urlsplit(api_url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if hostname in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- lifecycle ----------------------------------------------------------------------

    def bind(self) -> "StorefrontServer":
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
        return self

    def start(self) -> "StorefrontServer":
        """Serve in a background thread (tests, embedding)."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="storefront", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "StorefrontServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def review_url(self) -> str:
        return f"{self.url}/review"

    @property
    def result_url(self) -> str:
        return f"{self.url}/result"

    @property
    def graphql_url(self) -> str:
        """What the browser posts GraphQL to."""
        return "/graphql/" if self.proxy else self.api_url

    def page_config(self) -> dict:
        return {"apiUrl": self.api_url, "graphqlUrl": self.graphql_url, "proxied": self.proxy,
                "channel": self.channel, "gatewayId": GATEWAY_ID,
                "reviewPath": "/review", "resultPath": "/result"}

    # -- the GraphQL pass-through -------------------------------------------------------

    def forward(self, body: bytes, content_type: str) -> "tuple[int, bytes, str]":
        request = urllib.request.Request(self.api_url, data=body, method="POST", headers={
            "Content-Type": content_type, "Accept": "application/json",
            "User-Agent": "saleor-amazonpay-demo-storefront"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as error:  # Saleor's 400s carry GraphQL errors: pass them on
            with error:
                return error.code, error.read(), error.headers.get("Content-Type", "application/json")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            message = f"storefront proxy: cannot reach the Saleor API at {self.api_url}: {reason}"
            return 502, json.dumps({"errors": [{"message": message}]}).encode(), "application/json"


def serve(api_url: str, channel: str, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, proxy: bool = True,
          quiet: bool = False, announce: "Callable[[str], Any]" = print) -> None:
    """Run the storefront in the foreground until Ctrl-C (``saleor-amazonpay demo --storefront``)."""
    shop = StorefrontServer(api_url, channel, host=host, port=port, proxy=proxy, quiet=quiet).bind()
    for line in describe(shop):
        announce(line)
    sys.stdout.flush()
    try:
        shop.serve_forever()
    except KeyboardInterrupt:
        pass


def describe(shop: StorefrontServer) -> "list[str]":
    how = (f"GraphQL goes through this server to {shop.api_url}" if shop.proxy
           else f"the browser calls {shop.api_url} directly (Saleor must allow this origin: ALLOWED_GRAPHQL_ORIGINS)")
    return [
        f"Demo storefront for channel {shop.channel!r}: {shop.url}/",
        f"  ({how})",
        "Configure Amazon Pay for this channel (dashboard > Configuration > Plugins > Amazon Pay):",
        f"  Checkout review URL     {shop.review_url}",
        f"  Checkout result URL     {shop.result_url}",
        "  API base URL override   the emulator's URL (saleor-amazonpay emulator) for local buyer pages,",
        "                          or empty for Amazon's sandbox/live button",
        "Press Ctrl-C to stop.",
    ]
