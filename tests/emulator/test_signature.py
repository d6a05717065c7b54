"""Request authentication: every way a signature check can pass or fail."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from saleor_amazonpay.core import (
    AuthenticationError,
    InvalidRequestError,
    SignatureAlgorithm,
)
from saleor_amazonpay.core.constants import REQUEST_ID_HEADER
from saleor_amazonpay.core.signing import (
    canonical_request,
    format_amz_date,
    hex_sha256,
    load_private_key,
)
from saleor_amazonpay.emulator import EmulatorApp

from .conftest import make_client, new_merchant
from .helpers import RawApi, body_of, reason

SESSION_BODY = {"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.test/r"}}


def session_body(raw):
    return dict(SESSION_BODY, storeId=raw.config.store_id)


def create(raw, **kwargs):
    kwargs.setdefault("idempotency_key", "k1")
    return raw.send("POST", "/checkoutSessions", session_body(raw), **kwargs)


@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm))
def test_both_algorithms_verify(raw, algorithm):
    response = create(raw, signer=raw.signer(algorithm))
    assert response.status == 201, response.body


def test_client_requests_verify_and_carry_a_request_id(client):
    session = client.create_checkout_session(
        {"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://shop.test/r"}, "storeId": client.config.store_id})
    assert session.state.value == "Open"


def test_request_id_on_every_response(raw, browser):
    responses = [
        create(raw),
        raw.send("GET", "/checkoutSessions/nope"),
        raw.send("GET", "/nothing"),
        raw.send("GET", "/checkoutSessions", authorization="broken"),
        browser.get("/_emulator/health"),
        browser.get("/_emulator/nothing"),
        browser.get("/elsewhere"),
    ]
    ids = [r.header(REQUEST_ID_HEADER) if hasattr(r, "header") else r.headers.get(REQUEST_ID_HEADER)
           for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)


def test_tampered_body_is_rejected(raw):
    response = create(raw, sign_body=b'{"storeId":"other"}')
    assert reason(response) == (403, "InvalidRequestSignature")


def test_tampered_path_is_rejected(raw):
    response = raw.send("GET", "/checkoutSessions/abc", sign_path=raw.config.path_prefix + "/checkoutSessions/abd")
    assert reason(response) == (403, "InvalidRequestSignature")


def test_trailing_slash_is_routed_but_verified_as_sent(raw):
    session_id = body_of(create(raw))["checkoutSessionId"]
    ok = raw.send("GET", f"/checkoutSessions/{session_id}/")
    assert ok.status == 200 and body_of(ok)["checkoutSessionId"] == session_id
    signed_without = raw.send("GET", f"/checkoutSessions/{session_id}/",
                              sign_path=f"{raw.config.path_prefix}/checkoutSessions/{session_id}")
    assert reason(signed_without) == (403, "InvalidRequestSignature")


def test_query_string_is_canonicalised(raw):
    session_id = body_of(create(raw))["checkoutSessionId"]
    # Sent unsorted and with a space as %20: the canonical query sorts and re-encodes.
    response = raw.send("GET", f"/checkoutSessions/{session_id}", query="b=2&a=x%20y")
    assert response.status == 200


def test_wrong_salt_length_for_the_algorithm_label(raw):
    # Signed the V2 way (32-byte salt) but labelled AMZN-PAY-RSASSA-PSS (20-byte salt).
    key = load_private_key(raw.config.private_key)
    headers = {"accept": "application/json", "content-type": "application/json",
               "x-amz-pay-date": format_amz_date(datetime.now(timezone.utc)), "x-amz-pay-host": "pay-api.test",
               "x-amz-pay-region": "na"}
    names = sorted(headers)
    path = raw.config.path_prefix + "/checkoutSessions/x"
    canonical = canonical_request("GET", path, "", headers, names, b"")
    label = SignatureAlgorithm.RSASSA_PSS.value
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    wrong_salt = key.sign(f"{label}\n{hex_sha256(canonical)}".encode(),
                          padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    auth = (f"{label} PublicKeyId={raw.config.public_key_id}, SignedHeaders={';'.join(names)}, "
            f"Signature={base64.b64encode(wrong_salt).decode()}")
    assert reason(raw.send("GET", "/checkoutSessions/x", authorization=auth)) == (403, "InvalidRequestSignature")


def test_algorithm_label_swapped(raw):
    auth = raw.signer(SignatureAlgorithm.RSASSA_PSS_V2).sign_request(
        method="GET", path=raw.config.path_prefix + "/checkoutSessions/x", query="",
        headers=_headers(), body=b"")
    swapped = auth.replace("AMZN-PAY-RSASSA-PSS-V2 ", "AMZN-PAY-RSASSA-PSS ")
    response = raw.send("GET", "/checkoutSessions/x", authorization=swapped, date=_headers()["x-amz-pay-date"])
    assert reason(response) == (403, "InvalidRequestSignature")


def _headers():
    return {"accept": "application/json", "content-type": "application/json",
            "x-amz-pay-date": format_amz_date(datetime.now(timezone.utc)), "x-amz-pay-host": "pay-api.test",
            "x-amz-pay-region": "na"}


@pytest.mark.parametrize("authorization", [
    "garbage",
    "AMZN-PAY-RSASSA-PKCS1 PublicKeyId=X, SignedHeaders=x-amz-pay-date, Signature=abc",
])
def test_malformed_authorization(raw, authorization):
    assert reason(raw.send("GET", "/checkoutSessions/x", authorization=authorization)) == (
        403, "InvalidRequestSignature")


def test_missing_authorization(raw):
    response = raw.send("GET", "/checkoutSessions/x", drop_headers=["authorization"])
    assert reason(response) == (400, "MissingHeaderValue")


def test_signature_not_base64(raw):
    auth = raw.signer().sign_request(method="GET", path=raw.config.path_prefix + "/checkoutSessions/x",
                                     query="", headers=_headers(), body=b"")
    broken = auth.rsplit("Signature=", 1)[0] + "Signature=***"
    assert reason(raw.send("GET", "/checkoutSessions/x", authorization=broken)) == (403, "InvalidRequestSignature")


def test_unknown_public_key_id(raw):
    response = raw.send("GET", "/checkoutSessions/x", signer=raw.signer(key_id="SANDBOX-UNKNOWNKEY00000000000"))
    status, code = reason(response)
    assert (status, code) == (403, "InvalidRequestSignature")
    assert "Unknown PublicKeyId" in body_of(response)["message"]


def test_signed_with_another_key(raw, other_key_pair):
    response = raw.send("GET", "/checkoutSessions/x", signer=raw.signer(private_pem=other_key_pair[0]))
    assert reason(response) == (403, "InvalidRequestSignature")


def test_date_must_be_signed(raw):
    response = raw.send("GET", "/checkoutSessions/x",
                        signed_headers=["accept", "content-type", "x-amz-pay-host", "x-amz-pay-region"])
    assert reason(response) == (403, "InvalidRequestSignature")
    assert "x-amz-pay-date" in body_of(response)["message"]


def test_minimal_signed_header_list_is_accepted(raw):
    # Amazon honours whatever SignedHeaders says, as long as the date is in it.
    response = create(raw, signed_headers=["x-amz-pay-date", "x-amz-pay-idempotency-key"])
    assert response.status == 201


def test_extra_signed_headers_are_accepted(raw):
    # Node signs user-agent; Java signs every merchant header (the simulation code too).
    response = create(raw, signed_extra={"user-agent": "amazon-pay-api-sdk-nodejs/2.3.3 (JS/20)",
                                         "x-amz-pay-simulation-code": ""})
    assert response.status == 201


def test_unsigned_idempotency_key_is_rejected(raw):
    response = create(raw, idempotency_key=None, unsigned_extra={"x-amz-pay-idempotency-key": "k9"})
    assert reason(response) == (403, "InvalidRequestSignature")
    assert "idempotency" in body_of(response)["message"]


def test_signed_header_not_sent(raw):
    response = raw.send("GET", "/checkoutSessions/x", drop_headers=["accept"])
    assert reason(response) == (400, "MissingHeaderValue")


@pytest.mark.parametrize("delta, ok", [(timedelta(minutes=14), True), (timedelta(minutes=-14), True),
                                       (timedelta(minutes=16), False), (timedelta(minutes=-16), False)])
def test_date_skew(raw, delta, ok):
    date = format_amz_date(datetime.now(timezone.utc) + delta)
    response = create(raw, date=date)
    if ok:
        assert response.status == 201
    else:
        assert reason(response) == (400, "InvalidHeaderValue")


def test_extended_date_format_is_accepted(raw):
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # what the Node SDK sends
    assert create(raw, date=date).status == 201


def test_unparseable_date(raw):
    assert reason(create(raw, date="yesterday")) == (400, "InvalidHeaderValue")


def test_date_close_to_the_advanced_emulator_clock_is_accepted(emulator_app, raw):
    emulator_app.advance_clock(3600 * 30)
    # Both a wall-clock date (an unmodified client) and one near the emulated time pass.
    assert create(raw, idempotency_key="a1").status == 201
    emulated = format_amz_date(emulator_app.clock.now())
    assert create(raw, idempotency_key="a2", date=emulated).status == 201


def test_wrong_host(raw):
    assert reason(create(raw, host="pay-api.amazon.com")) == (400, "InvalidHeaderValue")


def test_host_is_compared_without_port(emulator_app, config):
    raw = RawApi(emulator_app, config, base_url="http://pay-api.test:8765")
    assert create(raw).status == 201


def test_missing_host_header(raw):
    response = create(raw, drop_headers=["x-amz-pay-host"],
                      signed_headers=["x-amz-pay-date", "x-amz-pay-idempotency-key"])
    assert reason(response) == (400, "MissingHeaderValue")


def test_wrong_region(raw):
    assert reason(create(raw, region="eu")) == (400, "InvalidHeaderValue")


def test_region_is_case_insensitive(raw):
    assert create(raw, region="NA").status == 201  # the Java SDK sends uppercase


def test_missing_region(raw):
    response = create(raw, drop_headers=["x-amz-pay-region"],
                      signed_headers=["x-amz-pay-date", "x-amz-pay-idempotency-key"])
    assert reason(response) == (400, "MissingHeaderValue")


def test_sandbox_key_on_live_paths(raw):
    assert reason(create(raw, prefix="/live/v2")) == (403, "InvalidAuthentication")


def test_sandbox_key_on_sandbox_path_is_fine(raw):
    assert create(raw, prefix="/sandbox/v2").status == 201


def test_live_key_on_sandbox_path(emulator_app, key_pair):
    merchant = new_merchant(emulator_app, key_pair, env="live")
    raw = RawApi(emulator_app, merchant.config)
    assert create(raw).status == 201  # /v2 with a LIVE- key
    assert reason(create(raw, prefix="/sandbox/v2", idempotency_key="k2")) == (403, "InvalidAuthentication")


def test_legacy_key_on_bare_v2_path(emulator_app, key_pair):
    merchant = new_merchant(emulator_app, key_pair, legacy_key_id=True)
    raw = RawApi(emulator_app, merchant.config)
    assert create(raw).status == 201  # /sandbox/v2
    assert create(raw, prefix="/live/v2", idempotency_key="k2").status == 201
    assert reason(create(raw, prefix="/v2", idempotency_key="k3")) == (403, "InvalidAuthentication")


def test_merchant_not_enabled_for_live(emulator_app, key_pair):
    merchant = new_merchant(emulator_app, key_pair, legacy_key_id=True)
    emulator_app.registry.get(merchant.merchant_id).environments = frozenset({merchant.config.environment})
    raw = RawApi(emulator_app, merchant.config)
    assert reason(create(raw, prefix="/live/v2")) == (403, "InvalidAuthentication")


def test_client_maps_rejections_to_authentication_error(emulator_app, merchant, other_key_pair):
    kwargs = dict(merchant.config_kwargs, private_key=other_key_pair[0])
    from saleor_amazonpay.core import AmazonPayConfig

    client = make_client(emulator_app, AmazonPayConfig(**kwargs))
    with pytest.raises(AuthenticationError) as info:
        client.get_checkout_session("abc")
    assert info.value.http_status == 403 and info.value.reason_code == "InvalidRequestSignature"


def test_client_with_wrong_base_host_fails_header_check(emulator_app, merchant):
    from saleor_amazonpay.core import AmazonPayConfig
    from saleor_amazonpay.core.transport import PreparedRequest, WSGITransport

    class Rehost(WSGITransport):
        def send(self, request):  # a proxy that rewrites the Host: the signed host no longer matches
            return super().send(PreparedRequest(request.method, request.url.replace("pay-api.test", "other.test"),
                                                request.headers, request.body))

    from saleor_amazonpay.core import AmazonPayClient

    client = AmazonPayClient(AmazonPayConfig(**merchant.config_kwargs), transport=Rehost(emulator_app))
    with pytest.raises(InvalidRequestError) as info:
        client.get_checkout_session("abc")
    assert info.value.reason_code == "InvalidHeaderValue"


def test_fresh_app_has_no_merchants():
    app = EmulatorApp()
    assert len(app.registry) == 0
