"""Fixtures for the emulator tier: the client and the emulator exercised together.

Every test here is marked ``emulator``. The merchant key pair is generated once per
session (RSA generation is the slow part); each test gets a fresh emulator.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from saleor_amazonpay.core import (
    AmazonPayClient,
    AmazonPayConfig,
    RequestsTransport,
    WSGITransport,
)
from saleor_amazonpay.emulator import (
    Emulator,
    EmulatorApp,
    WSGIBrowser,
    generate_key_pair,
)

from .helpers import RawApi

HERE = Path(__file__).parent


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator: client and emulator exercised together in-process or on loopback")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.emulator)


@dataclass
class MerchantFixture:
    config_kwargs: dict
    private_pem: str

    @property
    def config(self) -> AmazonPayConfig:
        return AmazonPayConfig(**self.config_kwargs)

    @property
    def merchant_id(self) -> str:
        return self.config_kwargs["merchant_id"]

    @property
    def store_id(self) -> str:
        return self.config_kwargs["store_id"]


@pytest.fixture(scope="session")
def key_pair():
    return generate_key_pair()


@pytest.fixture(scope="session")
def other_key_pair():
    return generate_key_pair()


@pytest.fixture
def emulator_app():
    app = EmulatorApp(ipn_retry_delays=(0.05, 0.1))
    yield app
    app.ipn.close()


def new_merchant(app: EmulatorApp, key_pair, env="sandbox", region="na", **kwargs) -> MerchantFixture:
    config_kwargs, pem = app.make_test_merchant(env, region, key_pair=key_pair, **kwargs)
    return MerchantFixture(config_kwargs, pem)


@pytest.fixture
def merchant(emulator_app, key_pair) -> MerchantFixture:
    return new_merchant(emulator_app, key_pair)


@pytest.fixture
def config(merchant) -> AmazonPayConfig:
    return merchant.config


def make_client(app: EmulatorApp, config: AmazonPayConfig, **kwargs) -> AmazonPayClient:
    kwargs.setdefault("sleep", lambda seconds: None)
    return AmazonPayClient(config, transport=WSGITransport(app), **kwargs)


@pytest.fixture
def client(emulator_app, config) -> AmazonPayClient:
    return make_client(emulator_app, config)


@pytest.fixture
def raw(emulator_app, config) -> RawApi:
    return RawApi(emulator_app, config)


@pytest.fixture
def browser(emulator_app) -> WSGIBrowser:
    return WSGIBrowser(emulator_app)


@pytest.fixture
def server():
    emulator = Emulator(app=EmulatorApp(ipn_retry_delays=(0.05, 0.1))).start()
    yield emulator
    emulator.stop()
    emulator.app.ipn.close()


@pytest.fixture
def server_merchant(server, key_pair) -> MerchantFixture:
    config_kwargs, pem = server.make_test_merchant(key_pair=key_pair)
    return MerchantFixture(config_kwargs, pem)


@pytest.fixture
def server_client(server_merchant):
    client = AmazonPayClient(server_merchant.config, transport=RequestsTransport(), sleep=lambda s: None)
    yield client
    client.transport.close()


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


@dataclass
class IpnReceiver:
    """A local HTTP endpoint that records what it is sent (an IPN listener stand-in)."""

    url: str = ""
    received: list = field(default_factory=list)
    #: Statuses to answer, in order; the last one repeats.
    statuses: list = field(default_factory=lambda: [200])
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} IPN(s), got {len(self.received)}")
                self._cond.wait(remaining)
            return list(self.received)


@pytest.fixture
def ipn_receiver():
    receiver = IpnReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver._cond:
                index = len(receiver.received)
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                receiver._cond.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/ipn"
    yield receiver
    httpd.shutdown()
    httpd.server_close()
