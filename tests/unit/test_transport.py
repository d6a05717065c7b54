"""Transports: RawResponse helpers, the in-process WSGI transport, requests exception mapping."""

from __future__ import annotations

import json

import pytest
import requests

from saleor_amazonpay.core import (
    ConnectError,
    PreparedRequest,
    RawResponse,
    RequestsTransport,
    ResponseTimeout,
    TransportError,
    WSGITransport,
)

pytestmark = pytest.mark.unit


def test_raw_response_header_is_case_insensitive():
    response = RawResponse(200, {"X-Amz-Pay-Request-Id": "abc", "Content-Type": "application/json"}, b"{}")
    assert response.header("x-amz-pay-request-id") == "abc"
    assert response.header("X-AMZ-PAY-REQUEST-ID") == "abc"
    assert response.header("missing") is None


def _echo_app(captured):
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        captured.append(dict(environ, body=environ["wsgi.input"].read(length)))
        start_response("201 Created", [("Content-Type", "application/json"), ("x-amz-pay-request-id", "wsgi-1")])
        return [b'{"ok":', b"true}"]

    return app


def test_wsgi_transport_builds_environ_and_returns_answer():
    captured = []
    transport = WSGITransport(_echo_app(captured))
    request = PreparedRequest(
        "post",
        "http://127.0.0.1:8080/sandbox/v2/charges?x=1",
        {"content-type": "application/json", "x-amz-pay-idempotency-key": "k1", "authorization": "A"},
        b'{"a":1}',
    )
    response = transport.send(request)
    assert response.status == 201
    assert json.loads(response.body) == {"ok": True}
    assert response.header("X-Amz-Pay-Request-Id") == "wsgi-1"
    (environ,) = captured
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/sandbox/v2/charges"
    assert environ["QUERY_STRING"] == "x=1"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == "8080"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "7"
    assert environ["HTTP_X_AMZ_PAY_IDEMPOTENCY_KEY"] == "k1"
    assert environ["HTTP_AUTHORIZATION"] == "A"
    assert environ["body"] == b'{"a":1}'


@pytest.mark.parametrize(
    "fault, error, outcome_unknown",
    [
        ("connection-reset", ResponseTimeout, True),
        ("drop-response", ResponseTimeout, True),
        ("refused", ConnectError, False),
    ],
)
def test_wsgi_transport_fault_header(fault, error, outcome_unknown):
    def app(environ, start_response):
        start_response("500 Internal Server Error", [("X-Emulator-Fault", fault)])
        return [b""]

    with pytest.raises(error) as info:
        WSGITransport(app).send(PreparedRequest("GET", "http://emulator/v2/charges/x", {}))
    assert info.value.outcome_unknown is outcome_unknown


def test_wsgi_transport_closes_iterables():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Body([b"{}"])

    WSGITransport(app).send(PreparedRequest("GET", "https://x/v2/y", {}))
    assert closed == [True]


class _FakeSession:
    def __init__(self, exc):
        self.exc = exc
        self.max_redirects = 30
        self.kwargs = None

    def request(self, method, url, **kwargs):
        self.kwargs = kwargs
        raise self.exc


def _refused() -> requests.ConnectionError:
    return requests.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))"
    )


@pytest.mark.parametrize(
    "exc, error, outcome_unknown",
    [
        (requests.ConnectTimeout("connect timed out"), ConnectError, False),
        (_refused(), ConnectError, False),
        (requests.ConnectionError(ConnectionRefusedError(111, "refused")), ConnectError, False),
        (requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))"), ResponseTimeout, True),
        (requests.ReadTimeout("read timed out"), ResponseTimeout, True),
        (requests.exceptions.ChunkedEncodingError("broken"), TransportError, True),
    ],
)
def test_requests_exceptions_are_mapped(exc, error, outcome_unknown):
    session = _FakeSession(exc)
    transport = RequestsTransport(session)
    assert session.max_redirects == 0
    with pytest.raises(error) as info:
        transport.send(PreparedRequest("POST", "http://127.0.0.1:1/v2/charges", {"a": "b"}, b"{}", 1.5, 2.5))
    assert type(info.value) is error
    assert info.value.outcome_unknown is outcome_unknown
    assert info.value.__cause__ is exc
    assert session.kwargs["timeout"] == (1.5, 2.5)
    assert session.kwargs["allow_redirects"] is False
    assert session.kwargs["data"] == b"{}"
