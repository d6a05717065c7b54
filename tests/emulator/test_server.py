"""The threaded server: lifecycle, addresses, raw paths, the ticker, serve()."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from saleor_amazonpay.core import (
    AmazonPayClient,
    AmazonPayConfig,
    ChargeState,
    RequestsTransport,
)
from saleor_amazonpay.emulator import (
    Emulator,
    EmulatorApp,
    EmulatorSettings,
    MerchantRegistry,
    serve,
)

from .helpers import completed_session, create_session


def test_start_stop_url_and_port():
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.port
    emulator.start()
    try:
        assert emulator.url == f"http://127.0.0.1:{emulator.port}" and emulator.port > 0
        assert emulator.app.default_base_url == emulator.url
        assert emulator.start() is emulator  # idempotent
        response = requests.get(f"{emulator.url}/_emulator/health")
        assert response.status_code == 200 and response.headers["x-amz-pay-request-id"]
        assert response.headers["Connection"] == "close"
    finally:
        emulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.url}/_emulator/health", timeout=1)


def test_context_manager_and_shared_app():
    app = EmulatorApp()
    with Emulator(app=app) as emulator:
        assert emulator.app is app and emulator.registry is app.registry


def test_wildcard_host_url():
    with Emulator(host="0.0.0.0") as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{emulator.url}/_emulator/health").ok


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        emulator = Emulator(host="::1").start()
    except OSError:
        pytest.skip("cannot bind ::1")
    try:
        assert emulator.url.startswith("http://[::1]:")
        assert requests.get(f"{emulator.url}/_emulator/health").ok
    finally:
        emulator.stop()


def test_client_against_the_server(server, server_client):
    session = completed_session(server.app, server_client, intent="AuthorizeWithCapture")
    assert server_client.get_charge(session.charge_id).state is ChargeState.CAPTURED


def test_raw_path_is_verified_as_sent(server, server_merchant):
    """wsgiref decodes PATH_INFO; the server passes the raw path so %-encoded paths verify."""
    from datetime import datetime, timezone

    from saleor_amazonpay.core.signing import format_amz_date

    config = server_merchant.config
    path = f"{config.path_prefix}/checkoutSessions/a%20b"
    headers = {"accept": "application/json", "content-type": "application/json",
               "x-amz-pay-date": format_amz_date(datetime.now(timezone.utc)), "x-amz-pay-host": "127.0.0.1",
               "x-amz-pay-region": "na"}
    headers["authorization"] = config.signer.sign_request(method="GET", path=path, query="", headers=headers)
    response = requests.get(f"{server.url}{path}", headers=headers)
    assert response.status_code == 404 and response.json()["reasonCode"] == "ResourceNotFound"


def test_concurrent_requests_are_safe(server, server_merchant):
    clients = [AmazonPayClient(server_merchant.config, transport=RequestsTransport()) for _ in range(8)]
    errors = []

    def work(client):
        try:
            for _ in range(3):
                create_session(client)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(server.app.store.checkout_sessions) == 24


def test_ticker_settles_in_real_time(key_pair, ipn_receiver):
    app = EmulatorApp(settings=EmulatorSettings(pending_authorization_seconds=0.3))
    with Emulator(app=app, tick_interval=0.05) as emulator:
        config_kwargs, _ = emulator.make_test_merchant(key_pair=key_pair)
        app.set_ipn_url(ipn_receiver.url)
        client = AmazonPayClient(AmazonPayConfig(**config_kwargs), transport=RequestsTransport())
        session = completed_session(app, client, instrument="0701", pending=True)
        received = ipn_receiver.wait_for(2, timeout=5)  # created + resolved, no request in between
        assert json.loads(received[-1].json()["Message"])["ObjectId"] == session.charge_id
        assert app.store.charges[session.charge_id].state == "Authorized"


def test_serve_blocks_until_stopped(key_pair, tmp_path):
    registry = MerchantRegistry()
    registry.register("AMSERVE", "store-serve", "SANDBOX-SERVEKEY", key_pair[1])
    ready = {}
    lines = []

    def on_ready(emulator):
        ready["e"] = emulator

    thread = threading.Thread(target=serve, kwargs=dict(host="127.0.0.1", port=0, registry=registry,
                                                        announce=lines.append, on_ready=on_ready), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while "e" not in ready and time.monotonic() < deadline:
        time.sleep(0.01)
    emulator = ready["e"]
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{emulator.url}/_emulator/health", timeout=0.5).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.02)
    assert requests.get(f"{emulator.url}/_emulator/merchants").json()["merchants"][0]["merchantId"] == "AMSERVE"
    assert lines and emulator.url in lines[0]
    emulator.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
