"""The demo storefront's server (``saleor_amazonpay.storefront``) and ``demo --storefront``.

The page itself is exercised in a real browser by tests/saleor/test_e2e_browser.py; here:
routes, the page configuration, the GraphQL pass-through (to the API URL only, body and
Content-Type only), the CLI wiring, and that the module stays Saleor-free.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import pytest
import requests

from saleor_amazonpay import cli
from saleor_amazonpay.storefront import DEFAULT_PORT, GATEWAY_ID, StorefrontServer
from saleor_amazonpay.storefront import server as storefront_server

pytestmark = pytest.mark.unit


class FakeSaleor:
    """A loopback 'Saleor GraphQL API' that records what it receives."""

    def __init__(self, status: int = 200, body: "dict | None" = None) -> None:
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "body": raw, "headers": dict(self.headers)})
                answer = json.dumps(body if body is not None else {"data": {"shop": {"name": "Fake"}}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/graphql/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def saleor():
    fake = FakeSaleor()
    yield fake
    fake.close()


@pytest.fixture
def shop(saleor):
    with StorefrontServer(saleor.url, "default-channel", port=0) as server:
        yield server


@pytest.mark.parametrize("path", ["/", "/checkout", "/review?amazonCheckoutSessionId=x", "/result"])
def test_every_step_serves_the_page(shop, path):
    response = requests.get(shop.url + path, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert 'id="AmazonPayButton"' in response.text and "/static/app.js" in response.text


def test_static_files_and_404(shop):
    script = requests.get(shop.url + "/static/app.js", timeout=5)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert "amazon.Pay.renderButton" in script.text
    assert requests.get(shop.url + "/static/style.css", timeout=5).status_code == 200
    assert requests.get(shop.url + "/static/../server.py", timeout=5).status_code == 404
    assert requests.get(shop.url + "/static/server.py", timeout=5).status_code == 404
    assert requests.get(shop.url + "/nope", timeout=5).status_code == 404


def test_config_js_names_the_api_channel_and_gateway(shop, saleor):
    text = requests.get(shop.url + "/config.js", timeout=5).text
    assert text.startswith("window.STOREFRONT = ")
    config = json.loads(text[len("window.STOREFRONT = "):].rstrip().rstrip(";"))
    assert config == {"apiUrl": saleor.url, "graphqlUrl": "/graphql/", "proxied": True,
                      "channel": "default-channel", "gatewayId": "saleor.payments.amazonpay",
                      "reviewPath": "/review", "resultPath": "/result"}
    assert shop.review_url == f"{shop.url}/review" and shop.result_url == f"{shop.url}/result"
    assert GATEWAY_ID == "saleor.payments.amazonpay"


def test_graphql_pass_through_forwards_body_and_content_type_only(shop, saleor):
    body = {"query": "{ shop { name } }", "variables": {}}
    response = requests.post(shop.url + "/graphql/", json=body, timeout=5,
                             headers={"Authorization": "Bearer stolen", "Cookie": "sessionid=x"})
    assert response.status_code == 200 and response.json() == {"data": {"shop": {"name": "Fake"}}}
    [seen] = saleor.requests
    assert seen["path"] == "/graphql/" and json.loads(seen["body"]) == body
    assert seen["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in seen["headers"] and "Cookie" not in seen["headers"]


def test_graphql_errors_of_saleor_are_passed_on():
    fake = FakeSaleor(status=400, body={"errors": [{"message": "Syntax Error"}]})
    try:
        with StorefrontServer(fake.url, "c", port=0) as server:
            response = requests.post(server.url + "/graphql/", json={"query": "{"}, timeout=5)
        assert response.status_code == 400 and response.json()["errors"][0]["message"] == "Syntax Error"
    finally:
        fake.close()


def test_unreachable_saleor_is_a_502_with_a_graphql_error():
    with StorefrontServer("http://127.0.0.1:9/graphql/", "c", port=0) as server:
        response = requests.post(server.url + "/graphql/", json={"query": "{ shop { name } }"}, timeout=10)
    assert response.status_code == 502
    assert "cannot reach the Saleor API at http://127.0.0.1:9/graphql/" in response.json()["errors"][0]["message"]


def test_oversized_body_is_refused(shop, saleor):
    response = requests.post(shop.url + "/graphql/", data=b"x" * (storefront_server.MAX_BODY + 1), timeout=5,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and saleor.requests == []


def test_direct_mode_has_no_pass_through(saleor):
    with StorefrontServer(saleor.url, "c", port=0, proxy=False) as server:
        text = requests.get(server.url + "/config.js", timeout=5).text
        assert f'"graphqlUrl": "{saleor.url}"' in text and '"proxied": false' in text
        assert requests.post(server.url + "/graphql/", json={}, timeout=5).status_code == 404
    assert saleor.requests == []


@pytest.mark.parametrize(("api_url", "channel"), [("ftp://x/graphql/", "c"), ("127.0.0.1:8000", "c"),
                                                   ("http://127.0.0.1:8000/graphql/", "bad slug"),
                                                   ("http://127.0.0.1:8000/graphql/", "")])
def test_bad_api_url_or_channel_is_refused(api_url, channel):
    with pytest.raises(ValueError):
        StorefrontServer(api_url, channel)


def test_the_page_script_is_valid_javascript():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    path = resources.files("saleor_amazonpay.storefront").joinpath("static", "app.js")
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_storefront_imports_no_saleor_or_django():
    code = ("import sys, saleor_amazonpay.storefront; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('saleor', 'django', 'graphene')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# -- saleor-amazonpay demo --storefront ---------------------------------------------------------


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_storefront_serves_with_the_given_api_channel_and_port(monkeypatch, capsys):
    calls = []

    def fake_serve(api_url, channel, *, port, proxy, quiet, announce):
        calls.append({"api_url": api_url, "channel": channel, "port": port, "proxy": proxy, "quiet": quiet})
        announce("listening")

    monkeypatch.setattr(storefront_server, "serve", fake_serve)
    monkeypatch.setattr("saleor_amazonpay.storefront.serve", fake_serve)
    code, out, _ = _run(capsys, "demo", "--storefront", "--api-url", "http://127.0.0.1:8000/graphql/",
                        "--channel", "default-channel")
    assert code == 0 and "listening" in out
    assert calls == [{"api_url": "http://127.0.0.1:8000/graphql/", "channel": "default-channel",
                      "port": DEFAULT_PORT, "proxy": True, "quiet": False}]
    code, _, _ = _run(capsys, "demo", "--storefront", "--api-url", "http://h/graphql/", "--channel", "c",
                      "--port", "9000", "--direct", "--quiet")
    assert code == 0 and calls[-1]["port"] == 9000 and calls[-1]["proxy"] is False and calls[-1]["quiet"] is True


@pytest.mark.parametrize("argv", [
    ["demo", "--storefront", "--channel", "c"],
    ["demo", "--storefront", "--api-url", "http://127.0.0.1:8000/graphql/"],
    ["demo", "--storefront", "--api-url", "not-a-url", "--channel", "c"],
    ["demo", "--storefront", "--api-url", "http://127.0.0.1:8000/graphql/", "--channel", "bad slug"],
    ["demo", "--api-url", "http://127.0.0.1:8000/graphql/"],
])
def test_demo_storefront_usage_errors_exit_2(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and "configuration error" in err and out == ""


def test_demo_storefront_port_in_use_exits_2(capsys):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        code, _, err = _run(capsys, "demo", "--storefront", "--api-url", "http://127.0.0.1:8000/graphql/",
                            "--channel", "c", "--port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    assert code == 2 and "cannot listen on 127.0.0.1:" in err
