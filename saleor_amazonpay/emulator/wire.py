"""Minimal WSGI request/response objects (stdlib only, no framework).

The request keeps the path *exactly as received* (``RAW_URI`` from our server, else
``PATH_INFO``) because that is what the client signed: routing may normalise a trailing
slash, the signature check must not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

from ..core.constants import REQUEST_ID_HEADER

#: Response header by which the app asks the transport to simulate a network failure.
#: ``core.transport.WSGITransport`` and our threaded server both honour it.
FAULT_HEADER = "x-emulator-fault"

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found", 303: "See Other",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 409: "Conflict", 422: "Unprocessable Entity", 425: "Too Early",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Request:
    method: str
    raw_path: str
    query_string: str
    headers: dict[str, str]  # lowercase names
    body: bytes
    scheme: str = "http"

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> "Request":
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").lower()] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["content-length"] = environ["CONTENT_LENGTH"]
        if "host" not in headers:
            port = environ.get("SERVER_PORT", "")
            default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
            name = environ.get("SERVER_NAME", "localhost")
            headers["host"] = name if port in ("", default) else f"{name}:{port}"
        raw_uri = environ.get("RAW_URI")
        if raw_uri:
            parts = urlsplit(raw_uri)
            raw_path, query = parts.path, parts.query
        else:
            raw_path, query = environ.get("PATH_INFO", "") or "/", environ.get("QUERY_STRING", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        return cls(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            raw_path=raw_path or "/",
            query_string=query or "",
            headers=headers,
            body=body,
            scheme=environ.get("wsgi.url_scheme", "http"),
        )

    def header(self, name: str) -> "str | None":
        return self.headers.get(name.lower())

    @property
    def path(self) -> str:
        """The path for routing: one trailing slash tolerated, as Amazon's gateway does."""
        if len(self.raw_path) > 1 and self.raw_path.endswith("/"):
            return self.raw_path[:-1]
        return self.raw_path

    @property
    def host(self) -> str:
        """The Host header's hostname, without the port (``[::1]:80`` -> ``::1``)."""
        host = self.headers.get("host", "")
        if host.startswith("["):
            return host[1:].split("]", 1)[0]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.headers.get('host', 'localhost')}"

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query_string, keep_blank_values=True).items()}

    def json(self) -> Any:
        """Parse the body; numbers with a fraction become ``Decimal`` (money is never float)."""
        return json.loads(self.body.decode("utf-8"), parse_float=Decimal)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    @property
    def is_json(self) -> bool:
        return "json" in (self.headers.get("content-type") or "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> "str | None":
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    @property
    def status_line(self) -> str:
        return f"{self.status} {_REASONS.get(self.status, 'Unknown')}"

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def copy(self) -> "Response":
        return Response(self.status, self.body, list(self.headers))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dump_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=_json_default).encode("utf-8")


def json_response(status: int, data: Any, headers: "Iterable[tuple[str, str]]" = ()) -> Response:
    return Response(status, dump_json(data), [("Content-Type", "application/json;charset=UTF-8"), *headers])


def error_response(status: int, reason_code: str, message: str) -> Response:
    return json_response(status, {"reasonCode": reason_code, "message": message})


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode("utf-8"), [("Content-Type", "text/html; charset=utf-8")])


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", [("Location", location), ("Content-Type", "text/plain")])


def with_request_id(response: Response, request_id: str) -> Response:
    if response.header(REQUEST_ID_HEADER) is None:
        response.headers.append((REQUEST_ID_HEADER, request_id))
    return response
