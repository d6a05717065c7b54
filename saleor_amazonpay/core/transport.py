"""The transport seam: how a signed request reaches Amazon (or the emulator).

Like httpx's transports, a transport only moves bytes. Signing, retries and error
mapping live in the client, so tests can swap the network for an in-process WSGI app
without changing what is signed.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Protocol
from urllib.parse import urlsplit

import requests

from .errors import ConnectError, ResponseTimeout, TransportError


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> "str | None":
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class Transport(Protocol):
    def send(self, request: PreparedRequest) -> RawResponse:
        """Send the request; raise :class:`ConnectError` / :class:`ResponseTimeout` when no answer."""


class RequestsTransport:
    """Production transport over a pooled ``requests.Session``."""

    def __init__(self, session: "requests.Session | None" = None) -> None:
        self._session = session or requests.Session()
        # Redirects would replay a signed request elsewhere; Amazon never sends them.
        self._session.max_redirects = 0

    def send(self, request: PreparedRequest) -> RawResponse:
        try:
            response = self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=(request.connect_timeout, request.read_timeout),
                allow_redirects=False,
            )
        except requests.ConnectTimeout as exc:
            raise ConnectError(f"could not connect to Amazon Pay: {type(exc).__name__}") from exc
        except requests.ConnectionError as exc:
            # A reset after the request was written is indistinguishable, for the merchant,
            # from a timeout: Amazon may have acted on it. Only refused connections are safe.
            if _is_refused(exc):
                raise ConnectError("could not connect to Amazon Pay: connection refused") from exc
            raise ResponseTimeout(f"connection to Amazon Pay failed: {type(exc).__name__}") from exc
        except requests.Timeout as exc:
            raise ResponseTimeout("Amazon Pay did not answer in time") from exc
        except requests.RequestException as exc:
            raise TransportError(f"HTTP error talking to Amazon Pay: {type(exc).__name__}") from exc
        return RawResponse(response.status_code, dict(response.headers), response.content)

    def close(self) -> None:
        self._session.close()


def _is_refused(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return True
        text = str(exc)
        if "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text:
            return True
        exc = exc.__cause__ or exc.__context__ or (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None)
    return False


WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class WSGITransport:
    """Call a WSGI application (the emulator) in-process: no sockets, same bytes."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def send(self, request: PreparedRequest) -> RawResponse:
        parts = urlsplit(request.url)
        environ = {
            "REQUEST_METHOD": request.method.upper(),
            "SCRIPT_NAME": "",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": parts.hostname or "localhost",
            "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme or "http",
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(request.body)),
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value
        captured: dict = {}

        def start_response(status: str, headers: list, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = dict(headers)
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        headers = captured.get("headers", {})
        # The emulator signals injected network faults through this header, so the
        # in-process transport fails exactly as the socket transport would.
        fault = next((v for k, v in headers.items() if k.lower() == "x-emulator-fault"), None)
        if fault == "connection-reset":
            raise ResponseTimeout("connection to Amazon Pay failed: ConnectionResetError")
        if fault == "drop-response":
            raise ResponseTimeout("Amazon Pay did not answer in time")
        if fault == "refused":
            raise ConnectError("could not connect to Amazon Pay: connection refused")
        return RawResponse(captured.get("status", 500), headers, body)
