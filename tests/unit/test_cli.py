"""The ``saleor-amazonpay`` command: parsing, keys, emulator set-up, sign-button, api, exit codes.

No sockets: the emulator command runs with a stand-in for ``serve`` and API calls go to
an in-process :class:`EmulatorApp` through ``WSGITransport``. Every test that handles a
private key also checks the key never reaches stdout or stderr.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from saleor_amazonpay import cli
from saleor_amazonpay.core import (
    AmazonPayClient,
    AmazonPayConfig,
    Price,
    SignatureAlgorithm,
    WSGITransport,
)
from saleor_amazonpay.core.signing import hex_sha256, load_public_key, verify
from saleor_amazonpay.emulator import EmulatorApp, MerchantRegistry

pytestmark = pytest.mark.unit

SANDBOX_KEY_ID = re.compile(r"^SANDBOX-A[A-Z2-7]{23}$")
LIVE_KEY_ID = re.compile(r"^LIVE-A[A-Z2-7]{23}$")
LEGACY_KEY_ID = re.compile(r"^A[A-Z2-7]{23}$")
PEM_BODY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.+?)\n-----END", re.S)
ENV_NAMES = ("MERCHANT_ID", "STORE_ID", "PUBLIC_KEY_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "PRIVATE_KEY_PASSPHRASE",
             "REGION", "SANDBOX", "ALGORITHM", "BASE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(f"AMAZONPAY_{name}", raising=False)


def run(capsys, *argv: str) -> "tuple[int, str, str]":
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_private_key(private_pem: str, *texts: str) -> None:
    body = PEM_BODY.search(private_pem)[1]
    lines = [line for line in body.splitlines() if len(line) >= 32]
    for text in texts:
        assert "PRIVATE KEY" not in text
        for line in lines:
            assert line not in text


@pytest.fixture
def keys(tmp_path, capsys) -> dict:
    """``keys generate`` into tmp_path/keys; returns what it wrote and printed."""
    out_dir = tmp_path / "keys"
    code, out, err = run(capsys, "keys", "generate", "--out", str(out_dir))
    assert code == 0, err
    entry = json.loads((out_dir / "merchants.json").read_text())["merchants"][0]
    return {"dir": out_dir, "out": out, "err": err, "entry": entry,
            "private_pem": (out_dir / "private.pem").read_text(), "public_pem": (out_dir / "public.pem").read_text()}


@pytest.fixture
def env_config(keys, monkeypatch) -> dict:
    entry = keys["entry"]
    monkeypatch.setenv("AMAZONPAY_MERCHANT_ID", entry["merchantId"])
    monkeypatch.setenv("AMAZONPAY_STORE_ID", entry["storeId"])
    monkeypatch.setenv("AMAZONPAY_PUBLIC_KEY_ID", entry["publicKeyId"])
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY_PATH", str(keys["dir"] / "private.pem"))
    monkeypatch.setenv("AMAZONPAY_BASE_URL", "http://pay-api.test")
    return keys


# --- parsing ------------------------------------------------------------------------------------


def test_parser_defaults():
    parser = cli.build_parser()
    args = parser.parse_args(["keys", "generate"])
    assert (args.out, args.env, args.legacy, args.region, args.merchant_id, args.store_id, args.force) == \
        (".", "sandbox", False, "na", None, None, False)
    args = parser.parse_args(["emulator"])
    assert (args.host, args.port, args.merchants, args.public_url, args.carrier_list, args.test_merchant,
            args.ipn_url) == ("127.0.0.1", 8765, None, None, None, False, None)
    args = parser.parse_args(["demo"])
    assert (args.port, args.intent, args.instrument, args.quiet) == (0, "Authorize", "1111", False)
    args = parser.parse_args(["api", "get-charge-permission", "S01-1234567-1234567"])
    assert (args.api_command, args.id) == ("get-charge-permission", "S01-1234567-1234567")
    args = parser.parse_args(["sign-button", "--payload", "{}"])
    assert args.payload == "{}" and args.handler is cli.cmd_sign_button


def test_parser_options():
    parser = cli.build_parser()
    args = parser.parse_args(["keys", "generate", "--out", "d", "--env", "live", "--legacy", "--region", "UK",
                              "--merchant-id", "A1", "--store-id", "s1", "--force"])
    assert (args.out, args.env, args.legacy, args.region, args.merchant_id, args.store_id, args.force) == \
        ("d", "live", True, "uk", "A1", "s1", True)
    args = parser.parse_args(["emulator", "--host", "::1", "--port", "0", "--merchants", "m.json", "--public-url",
                              "http://localhost:9000", "--carrier-list", "c.csv", "--test-merchant", "--ipn-url",
                              "http://127.0.0.1:8000/ipn"])
    assert (args.host, args.port, args.merchants, args.public_url, args.carrier_list, args.test_merchant,
            args.ipn_url) == ("::1", 0, "m.json", "http://localhost:9000", "c.csv", True, "http://127.0.0.1:8000/ipn")
    args = parser.parse_args(["demo", "--port", "9999", "--intent", "Confirm", "--instrument", "3434", "--quiet"])
    assert (args.port, args.intent, args.instrument, args.quiet) == (9999, "Confirm", "3434", True)


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["keys"],
    ["api"],
    ["keys", "generate", "--env", "staging"],
    ["keys", "generate", "--region", "mars"],
    ["demo", "--intent", "Charge"],
    ["demo", "--instrument", "9999"],
    ["demo", "--port", "eighty"],
    ["sign-button"],
    ["api", "get-charge"],
])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "usage" in (out + err).lower() or "required" in err


def test_help_and_version_exit_0(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and "saleor-amazonpay 0." in out
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0 and "--instrument" in out and "3434" in out


def test_runnable_with_dash_m():
    source = Path(cli.__file__).read_text()
    assert 'if __name__ == "__main__":\n    sys.exit(main())' in source


# --- keys generate ---------------------------------------------------------------------------------


def test_keys_generate_writes_a_working_key_pair(keys):
    folder = keys["dir"]
    assert stat.S_IMODE((folder / "private.pem").stat().st_mode) == 0o600
    assert keys["private_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert keys["public_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    entry = keys["entry"]
    assert SANDBOX_KEY_ID.fullmatch(entry["publicKeyId"])
    assert f"Public key id: {entry['publicKeyId']}" in keys["out"]
    assert re.fullmatch(r"A[A-Z0-9]{13}", entry["merchantId"])
    assert entry["storeId"].startswith("amzn1.application-oa2-client.")
    assert entry["region"] == "na" and entry["publicKeyPath"] == "public.pem"
    # The printed merchants entry is the one written.
    printed = keys["out"].split("relative to merchants.json):\n", 1)[1]
    assert json.loads(printed[: printed.index("\n}\n") + 2]) == entry
    # The emulator accepts the file, and the private key signs what the public key verifies.
    registry = MerchantRegistry.from_file(folder / "merchants.json")
    merchant, key = registry.by_public_key_id(entry["publicKeyId"])
    assert merchant.merchant_id == entry["merchantId"] and merchant.store_id == entry["storeId"]
    config = AmazonPayConfig(entry["merchantId"], entry["storeId"], entry["publicKeyId"],
                             private_key_path=str(folder / "private.pem"))
    signed = config.signer.sign_button_payload({"storeId": entry["storeId"]})
    message = f"{signed.algorithm.value}\n{hex_sha256(signed.payload_json)}"
    assert verify(key.public_key, signed.algorithm, message, signed.signature)
    assert_no_private_key(keys["private_pem"], keys["out"], keys["err"])


@pytest.mark.parametrize("extra, pattern", [
    (["--env", "live"], LIVE_KEY_ID),
    (["--legacy"], LEGACY_KEY_ID),
    (["--legacy", "--env", "live"], LEGACY_KEY_ID),
])
def test_keys_generate_key_id_shapes(tmp_path, capsys, extra, pattern):
    code, out, err = run(capsys, "keys", "generate", "--out", str(tmp_path), *extra)
    assert code == 0, err
    entry = json.loads((tmp_path / "merchants.json").read_text())["merchants"][0]
    assert pattern.fullmatch(entry["publicKeyId"])
    assert len(entry["publicKeyId"].split("-")[-1]) == 24
    if "--legacy" in extra:
        assert entry["environments"] == ["live" if "live" in extra else "sandbox"]
    assert_no_private_key((tmp_path / "private.pem").read_text(), out, err)


def test_keys_generate_with_given_ids_and_region(tmp_path, capsys):
    store = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
    code, out, err = run(capsys, "keys", "generate", "--out", str(tmp_path / "new" / "dir"), "--region", "uk",
                         "--merchant-id", "A2EXAMPLE12345", "--store-id", store)
    assert code == 0, err
    entry = json.loads((tmp_path / "new" / "dir" / "merchants.json").read_text())["merchants"][0]
    assert (entry["merchantId"], entry["storeId"], entry["region"]) == ("A2EXAMPLE12345", store, "uk")
    assert "generated" not in out
    merchant = MerchantRegistry.from_file(tmp_path / "new" / "dir" / "merchants.json").get("A2EXAMPLE12345")
    assert merchant.region == "eu"


def test_keys_generate_refuses_to_overwrite(keys, capsys):
    folder = keys["dir"]
    before = {name: (folder / name).read_text() for name in ("private.pem", "public.pem", "merchants.json")}
    code, out, err = run(capsys, "keys", "generate", "--out", str(folder))
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert {name: (folder / name).read_text() for name in before} == before
    code, out, err = run(capsys, "keys", "generate", "--out", str(folder), "--force")
    assert code == 0, err
    assert (folder / "private.pem").read_text() != before["private.pem"]
    assert stat.S_IMODE((folder / "private.pem").stat().st_mode) == 0o600


def test_keys_generate_refuses_when_only_one_file_exists(tmp_path, capsys):
    (tmp_path / "merchants.json").write_text('{"merchants": []}')
    code, _, err = run(capsys, "keys", "generate", "--out", str(tmp_path))
    assert code == 2 and "merchants.json" in err
    assert not (tmp_path / "private.pem").exists()


def test_keys_generate_private_key_is_0600_despite_umask(tmp_path, capsys):
    import os

    old = os.umask(0)
    try:
        code, _, err = run(capsys, "keys", "generate", "--out", str(tmp_path))
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "private.pem").stat().st_mode) == 0o600


def test_keys_generate_needs_both_ids(tmp_path, capsys):
    code, _, err = run(capsys, "keys", "generate", "--out", str(tmp_path), "--merchant-id", "A2EXAMPLE12345")
    assert code == 2 and "--store-id" in err
    assert not (tmp_path / "private.pem").exists()


# --- sign-button -----------------------------------------------------------------------------------


def test_sign_button_output_verifies_with_the_public_key(env_config, capsys):
    entry = env_config["entry"]
    payload = {"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/review"},
               "storeId": entry["storeId"], "scopes": ["name", "email"]}
    code, out, err = run(capsys, "sign-button", "--payload", json.dumps(payload, indent=4))
    assert code == 0, err
    config = json.loads(out)
    assert set(config) == {"payloadJSON", "signature", "publicKeyId", "algorithm"}
    assert config["publicKeyId"] == entry["publicKeyId"]
    assert config["algorithm"] == SignatureAlgorithm.RSASSA_PSS_V2.value
    assert json.loads(config["payloadJSON"]) == payload
    assert " " not in config["payloadJSON"]  # JSON.stringify style: what the button receives
    message = f"{config['algorithm']}\n{hex_sha256(config['payloadJSON'])}"
    public_key = load_public_key(env_config["public_pem"])
    assert verify(public_key, config["algorithm"], message, config["signature"])
    tampered = f"{config['algorithm']}\n{hex_sha256(config['payloadJSON'].replace('review', 'revieW'))}"
    assert not verify(public_key, config["algorithm"], tampered, config["signature"])
    assert_no_private_key(env_config["private_pem"], out, err)


def test_sign_button_is_accepted_by_the_emulator_sign_in(env_config, capsys):
    registry = MerchantRegistry.from_file(env_config["dir"] / "merchants.json")
    app = EmulatorApp(registry)
    code, out, err = run(capsys, "sign-button", "--compact", "--payload",
                         '{"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/review"}}')
    assert code == 0, err
    assert "storeId added from AMAZONPAY_STORE_ID" in err
    assert len(out.strip().splitlines()) == 1
    session = app.buyer.create_session_from_button(json.loads(out))
    assert session.store_id == env_config["entry"]["storeId"] and session.state == "Open"


def test_sign_button_reads_a_payload_file(env_config, tmp_path, capsys):
    path = tmp_path / "payload.json"
    path.write_text('{"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/r"}}')
    code, out, err = run(capsys, "sign-button", "--payload", f"@{path}")
    assert code == 0, err
    assert json.loads(json.loads(out)["payloadJSON"])["webCheckoutDetails"]["checkoutReviewReturnUrl"] == \
        "https://shop.example/r"


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", "@/nonexistent/payload.json"])
def test_sign_button_bad_payload_exits_2(env_config, capsys, payload):
    code, out, err = run(capsys, "sign-button", "--payload", payload)
    assert code == 2 and out == ""
    assert "configuration error" in err


def test_missing_merchant_id_exits_2(env_config, monkeypatch, capsys):
    monkeypatch.delenv("AMAZONPAY_MERCHANT_ID")
    code, out, err = run(capsys, "sign-button", "--payload", "{}")
    assert code == 2 and out == ""
    assert "AMAZONPAY_MERCHANT_ID" in err


def test_missing_private_key_exits_2(env_config, monkeypatch, capsys):
    monkeypatch.delenv("AMAZONPAY_PRIVATE_KEY_PATH")
    code, _, err = run(capsys, "api", "get-charge", "S01-1234567-1234567-C123456")
    assert code == 2 and "AMAZONPAY_PRIVATE_KEY" in err


def test_unreadable_key_and_bad_region_exit_2(env_config, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY_PATH", str(tmp_path / "missing.pem"))
    code, _, err = run(capsys, "sign-button", "--payload", "{}")
    assert code == 2 and "cannot read the private key file" in err
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY_PATH", str(env_config["dir"] / "private.pem"))
    monkeypatch.setenv("AMAZONPAY_REGION", "mars")
    code, _, err = run(capsys, "sign-button", "--payload", "{}")
    assert code == 2 and "AMAZONPAY_REGION" in err


def test_private_key_in_env_is_never_echoed(env_config, monkeypatch, capsys):
    """PEM text in AMAZONPAY_PRIVATE_KEY: neither a success nor an error shows it."""
    monkeypatch.delenv("AMAZONPAY_PRIVATE_KEY_PATH")
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY", env_config["private_pem"])
    code, out, err = run(capsys, "sign-button", "--payload", "{}")
    assert code == 0, err
    assert_no_private_key(env_config["private_pem"], out, err)
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY", env_config["private_pem"].replace("\n", "\nX", 3))
    code, out, err = run(capsys, "sign-button", "--payload", "{}")
    assert code == 2
    assert_no_private_key(env_config["private_pem"], out, err)


# --- api -------------------------------------------------------------------------------------------------


@pytest.fixture
def api_app(env_config, monkeypatch) -> EmulatorApp:
    """An in-process emulator that knows the generated merchant; the CLI's client talks to it."""
    app = EmulatorApp(MerchantRegistry.from_file(env_config["dir"] / "merchants.json"))

    def client_factory(config, **kwargs):
        return AmazonPayClient(config, transport=WSGITransport(app), sleep=lambda s: None, **kwargs)

    monkeypatch.setattr(cli, "AmazonPayClient", client_factory)
    yield app
    app.ipn.close()


def _completed_order(app: EmulatorApp) -> "tuple[AmazonPayClient, object]":
    config = AmazonPayConfig.from_env()
    client = AmazonPayClient(config, transport=WSGITransport(app))
    session = client.create_checkout_session({
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/review"},
        "storeId": config.store_id})
    app.buyer_approve(session.checkout_session_id, instrument="1111")
    client.update_checkout_session(session.checkout_session_id, {
        "webCheckoutDetails": {"checkoutResultReturnUrl": "https://shop.example/result"},
        "paymentDetails": {"paymentIntent": "AuthorizeWithCapture", "chargeAmount": {"amount": "20.00",
                                                                                     "currencyCode": "USD"}}})
    app.buyer_confirm(session.checkout_session_id)
    completed = client.complete_checkout_session(session.checkout_session_id, Price.of("20.00", "USD"))
    return client, completed


def test_api_commands_print_raw_json(api_app, env_config, capsys):
    client, completed = _completed_order(api_app)
    refund = client.create_refund(completed.charge_id, Price.of("5.00", "USD"))
    for command, object_id, key in (
        ("get-checkout-session", completed.checkout_session_id, "checkoutSessionId"),
        ("get-charge", completed.charge_id, "chargeId"),
        ("get-charge-permission", completed.charge_permission_id, "chargePermissionId"),
        ("get-refund", refund.refund_id, "refundId"),
    ):
        code, out, err = run(capsys, "api", command, object_id)
        assert code == 0, err
        data = json.loads(out)
        assert data[key] == object_id and "statusDetails" in data
        assert "x-amz-pay-request-id" in err
        assert_no_private_key(env_config["private_pem"], out, err)
    code, out, _ = run(capsys, "api", "get-charge", completed.charge_id)
    assert json.loads(out)["statusDetails"]["state"] == "Captured"


def test_api_error_exits_1_with_reason_code(api_app, env_config, capsys):
    code, out, err = run(capsys, "api", "get-charge", "S01-1234567-1234567-C123456")
    assert code == 1 and out == ""
    assert "ResourceNotFound" in err and "HTTP 404" in err and "x-amz-pay-request-id" in err
    assert_no_private_key(env_config["private_pem"], out, err)


def test_api_signature_failure_exits_1(api_app, env_config, tmp_path, capsys, monkeypatch):
    """A key the emulator does not know for this key id: Amazon's InvalidRequestSignature."""
    other = tmp_path / "other"
    assert cli.main(["keys", "generate", "--out", str(other)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("AMAZONPAY_PRIVATE_KEY_PATH", str(other / "private.pem"))
    code, _, err = run(capsys, "api", "get-checkout-session", "0f5b7a0e-3c1f-4d8e-9b0a-2a6f1e6c9d11")
    assert code == 1 and "InvalidRequestSignature" in err


def test_api_invalid_id_exits_2(env_config, capsys):
    code, _, err = run(capsys, "api", "get-refund", "../../v2/charges")
    assert code == 2 and "not a valid refund id" in err


def test_api_without_configuration_exits_2(capsys):
    code, out, err = run(capsys, "api", "get-checkout-session", "abc")
    assert code == 2 and out == "" and "AMAZONPAY_MERCHANT_ID" in err


# --- emulator ----------------------------------------------------------------------------------------------


class FakeEmulator:
    """What ``serve`` hands to ``on_ready``, without a socket."""

    def __init__(self, registry, public_url=None, **app_kwargs):
        self.app = EmulatorApp(registry, public_url=public_url, **app_kwargs)
        self.url = "http://127.0.0.1:8765"
        self.app.default_base_url = self.url

    @property
    def registry(self):
        return self.app.registry

    def make_test_merchant(self, env="sandbox", region="na", **kwargs):
        return self.app.make_test_merchant(env, region, base_url=self.url, **kwargs)


@pytest.fixture
def fake_serve(monkeypatch):
    calls: list = []

    def serve(host, port, registry=None, *, public_url=None, quiet=False, announce=print, on_ready=None,
              **app_kwargs):
        emulator = FakeEmulator(registry, public_url=public_url, **app_kwargs)
        calls.append({"host": host, "port": port, "registry": registry, "public_url": public_url, "quiet": quiet,
                      "app_kwargs": app_kwargs, "emulator": emulator})
        if on_ready:
            on_ready(emulator)
        announce(f"Amazon Pay API emulator listening on {emulator.url}")

    monkeypatch.setattr("saleor_amazonpay.emulator.serve", serve)
    return calls


def _printed(out: str, label: str) -> str:
    return re.search(rf"^  {re.escape(label)}\s+(\S.*)$", out, re.M)[1].strip()


def test_emulator_registers_a_test_merchant_and_prints_its_configuration(fake_serve, tmp_path, capsys):
    key_out = tmp_path / "dev" / "test-merchant.pem"
    code, out, err = run(capsys, "emulator", "--port", "0", "--key-out", str(key_out), "--ipn-url",
                         "http://127.0.0.1:8000/ipn", "--public-url", "http://localhost:9000")
    assert code == 0, err
    call = fake_serve[0]
    assert (call["host"], call["port"], call["public_url"]) == ("127.0.0.1", 0, "http://localhost:9000")
    app = call["emulator"].app
    # The printed configuration is complete and works: the key file signs, the emulator verifies.
    merchant_id, store_id = _printed(out, "Merchant ID"), _printed(out, "Store ID")
    key_id = _printed(out, "Public key ID")
    assert SANDBOX_KEY_ID.fullmatch(key_id)
    assert _printed(out, "Region") == "na" and _printed(out, "Sandbox mode") == "true"
    assert _printed(out, "API base URL override") == "http://127.0.0.1:8765"
    assert str(key_out) in _printed(out, "Private key")
    assert "http://localhost:9000/_emulator/checkout.js" in out
    assert stat.S_IMODE(key_out.stat().st_mode) == 0o600
    private_pem = key_out.read_text()
    assert_no_private_key(private_pem, out, err)
    config = AmazonPayConfig(merchant_id, store_id, key_id, private_key_path=str(key_out),
                             base_url="http://127.0.0.1:8765")
    client = AmazonPayClient(config, transport=WSGITransport(app))
    session = client.create_checkout_session({
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.example/review"}, "storeId": store_id})
    assert session.state.value == "Open"
    assert app.ipn.endpoint_for(merchant_id).url == "http://127.0.0.1:8000/ipn"
    app.ipn.close()


def test_emulator_with_a_merchants_file(fake_serve, keys, tmp_path, capsys):
    csv = tmp_path / "carriers.csv"
    csv.write_text("United Parcel Service,UPS\nDeutsche Post DHL,DHL\n")
    code, out, err = run(capsys, "emulator", "--merchants", str(keys["dir"] / "merchants.json"),
                         "--carrier-list", str(csv), "--quiet")
    assert code == 0, err
    call = fake_serve[0]
    assert call["registry"].get(keys["entry"]["merchantId"]) is not None
    assert len(call["registry"]) == 1  # no test merchant without --test-merchant
    assert call["app_kwargs"] == {"carrier_codes": str(csv)} and call["quiet"] is True
    assert call["emulator"].app.known_carriers == {"UPS", "DHL"}
    assert "Merchant ID" not in out and keys["entry"]["merchantId"] in out
    call["emulator"].app.ipn.close()


def test_emulator_with_merchants_file_and_test_merchant(fake_serve, keys, capsys):
    code, out, err = run(capsys, "emulator", "--merchants", str(keys["dir"] / "merchants.json"), "--test-merchant")
    assert code == 0, err
    registry = fake_serve[0]["registry"]
    assert len(registry) == 2
    key_path = Path(re.search(r"Private key written to (\S+) ", out)[1])
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert_no_private_key(key_path.read_text(), out, err)
    key_path.unlink()
    key_path.parent.rmdir()
    fake_serve[0]["emulator"].app.ipn.close()


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("{not json", "merchants file"),
    ('{"merchants": [{"merchantId": "A1"}]}', "publicKeyId is required"),
])
def test_emulator_bad_merchants_file_exits_2(fake_serve, tmp_path, capsys, content, message):
    path = tmp_path / "merchants.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(capsys, "emulator", "--merchants", str(path))
    assert code == 2 and message in err
    assert fake_serve == []


def test_emulator_missing_carrier_list_exits_2(fake_serve, capsys, tmp_path):
    code, _, err = run(capsys, "emulator", "--carrier-list", str(tmp_path / "nope.csv"))
    assert code == 2 and "carrier list" in err and fake_serve == []


def test_emulator_port_in_use_exits_2(monkeypatch, capsys):
    def serve(*args, **kwargs):
        raise OSError(98, "Address already in use")

    monkeypatch.setattr("saleor_amazonpay.emulator.serve", serve)
    code, _, err = run(capsys, "emulator", "--port", "8765")
    assert code == 2 and "Address already in use" in err


# --- demo wiring (the flow itself is tested in tests/emulator/test_demo.py) ---------------------------------


def test_demo_command_exit_codes(monkeypatch, capsys):
    from saleor_amazonpay import demo

    seen = {}

    def fake_run_demo(out, intent, instrument, port, region, quiet):
        seen.update(intent=intent, instrument=instrument, port=port, quiet=quiet)
        out("transcript line")
        return demo.DemoResult(ok=instrument == "1111", intent=intent, instrument=instrument, region=region,
                               currency="USD", failed_step=None if instrument == "1111" else 6,
                               reason_code=None if instrument == "1111" else "CheckoutSessionCanceled")

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    code, out, _ = run(capsys, "demo", "--intent", "Confirm", "--port", "0")
    assert code == 0 and "transcript line" in out
    assert seen == {"intent": "Confirm", "instrument": "1111", "port": 0, "quiet": False}
    code, out, _ = run(capsys, "demo", "--instrument", "3434", "--quiet")
    assert code == 1 and "CheckoutSessionCanceled" in out and seen["quiet"] is True
