"""Byte-level interoperability of saleor_amazonpay.core.signing with the official Node SDK.

The reference is ``@amazonpay/amazon-pay-api-sdk-nodejs`` (version pinned in
tests/interop/node_sdk.py), run in one node process (tests/interop/node_oracle.js) that
signs through the SDK's own ``WebStoreClient`` methods with the clock pinned and the
network step stubbed out, and reports the canonical request and string to sign the SDK
hashed and signed.

For every Amazon Pay v2 operation x both algorithms x legacy (``/sandbox``, ``/live``)
and environment-specific (``SANDBOX-``/``LIVE-``) key ids, we check that

* our ``canonical_request``/``string_to_sign``, given the headers the SDK signed (the
  Node SDK also signs ``user-agent``), are byte-identical to the SDK's;
* our route (``AmazonPayConfig.path_prefix``), host and region headers and JSON body
  serialisation are the SDK's;
* the SDK's signatures verify with our ``verify`` and ours verify in Node
  (``crypto.verify``, RSA-PSS, the SDK's salt length).

Button signatures and raw string signatures are cross-verified the same way, including
the official ``8dec52d7...`` vector. The ``test_divergence_*`` tests pin the edge cases
where the Node SDK and this module knowingly differ (none affects a real Amazon Pay
request; see their docstrings).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from saleor_amazonpay.core.config import AmazonPayConfig
from saleor_amazonpay.core.constants import DEFAULT_SIGNED_HEADERS, IDEMPOTENCY_HEADER, SignatureAlgorithm
from saleor_amazonpay.core.signing import (
    Authorization,
    RequestSigner,
    button_payload_json,
    canonical_query,
    canonical_request,
    hex_sha256,
    parse_authorization,
    string_to_sign,
    verify,
)

pytestmark = pytest.mark.interop

#: 2024-01-05T13:14:15.678Z; the SDK drops the milliseconds.
NOW_MS = 1704460455678
SDK_DATE = "2024-01-05T13:14:15Z"

ALGORITHMS = [SignatureAlgorithm.RSASSA_PSS, SignatureAlgorithm.RSASSA_PSS_V2]

#: Official button test vector (php ClientTest::testGenerateButtonSignature, dotnet SignatureHelperTest).
BUTTON_VECTOR_PAYLOAD = (
    '{"storeId":"amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",'
    '"webCheckoutDetails":{"checkoutReviewReturnUrl":"https://localhost/test/CheckoutReview.php",'
    '"checkoutResultReturnUrl":"https://localhost/test/CheckoutResult.php"}}'
)
BUTTON_VECTOR_SHA256 = "8dec52d799607be40f82d5c8e7ecb6c171e6591c41b1111a576b16076c89381c"


# ----------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class KeyProfile:
    name: str
    public_key_id: str
    sandbox: bool
    region: str  # as a merchant configures it; both sides map it (us->na, de/uk->eu)


KEY_PROFILES = [
    KeyProfile("legacy-sandbox", "ABC123DEF456XYZ789IJK000", True, "us"),
    KeyProfile("legacy-live", "AGHV5Q7QBNFXOAJ6ZNLZ3GT4", False, "de"),
    # Environment-specific ids: the environment comes from the id, the flag is ignored.
    KeyProfile("env-sandbox", "SANDBOX-AHS4KVDN2FBPE5EBHXMRHJBI", False, "uk"),
    KeyProfile("env-live", "LIVE-AF6EGIJXMAG4FU5E6EFZWLBA", True, "jp"),
    KeyProfile("env-sandbox-lowercase", "sandbox-ahs4kvdn2fbpe5ebhxmrhjbi", False, "na"),
]

CHECKOUT_SESSION_ID = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
CHARGE_PERMISSION_ID = "S01-7331650-8246451"
CHARGE_ID = "S01-7331650-8246451-C028985"
REFUND_ID = "S01-7331650-8246451-R012345"
IDEMPOTENCY_KEY = "4a3bd1a7c0f44e8e9d5d0e2c47b1b7a2"

UNICODE_NOTE = (
    'Danke schön! «Grüße» aus Zürich — 東京店 🎉 "quoted" \\ back\\slash / slash '
    "tab\there\u2028sep\u0007bell </script>"
)

CREATE_CHECKOUT_SESSION = {
    "webCheckoutDetails": {
        "checkoutReviewReturnUrl": "https://shop.example/checkout/review?step=1&lang=de-ü",
        "checkoutResultReturnUrl": "https://shop.example/checkout/result",
    },
    "storeId": "amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId",
    "scopes": ["name", "email", "phoneNumber", "billingAddress"],
    "paymentDetails": {
        "paymentIntent": "Authorize",
        "canHandlePendingAuthorization": False,
        "chargeAmount": {"amount": "1234.56", "currencyCode": "EUR"},
        "presentmentCurrency": "EUR",
    },
    "merchantMetadata": {
        "merchantReferenceId": "ORD-2024-0001",
        "merchantStoreName": "Café Zürich — 東京店 🎉",
        "noteToBuyer": UNICODE_NOTE,
        "customInformation": None,
    },
    "deliverySpecifications": {"addressRestrictions": {"type": "Allowed", "restrictions": {"DE": {}, "AT": {}}}},
}
UPDATE_CHECKOUT_SESSION = {
    "paymentDetails": {
        "paymentIntent": "AuthorizeWithCapture",
        "chargeAmount": {"amount": "50", "currencyCode": "JPY"},
    },
    "merchantMetadata": {"merchantReferenceId": "注文-42", "merchantStoreName": "ストア", "noteToBuyer": "ありがとう"},
}
COMPLETE_CHECKOUT_SESSION = {"chargeAmount": {"amount": "14.00", "currencyCode": "USD"}}
UPDATE_CHARGE_PERMISSION = {"merchantMetadata": {"merchantReferenceId": "ORD-Ω-7", "customInformation": "ß∂ƒ©"}}
CLOSE_CHARGE_PERMISSION = {"closureReason": "Kunde hat storniert — «Ärger»", "cancelPendingCharges": False}
CREATE_CHARGE = {
    "chargePermissionId": CHARGE_PERMISSION_ID,
    "chargeAmount": {"amount": "14.00", "currencyCode": "GBP"},
    "captureNow": True,
    "softDescriptor": "Café £",
    "canHandlePendingAuthorization": False,
}
CAPTURE_CHARGE = {"captureAmount": {"amount": "14.00", "currencyCode": "GBP"}, "softDescriptor": "Ünïcödé"}
CANCEL_CHARGE = {"cancellationReason": "Ausverkauft – sorry 🙏"}
CREATE_REFUND = {
    "chargeId": CHARGE_ID,
    "refundAmount": {"amount": "1.99", "currencyCode": "EUR"},
    "softDescriptor": "Rückgabe",
}
DELIVERY_TRACKERS = {
    "amazonOrderReferenceId": CHARGE_PERMISSION_ID,
    "deliveryDetails": [{"trackingNumber": "1Z999AA1 0123456784", "carrierCode": "UPS"}],
}
REPORTS_QUERY = {
    "reportTypes": "_GET_FLAT_FILE_OFFAMAZONPAYMENTS_ORDER_REFERENCE_DATA_",
    "processingStatus": "COMPLETED",
    "createdSince": "20240101T000000Z",
    "pageSize": "10",
    "nextToken": "eyJwYWdlIjoyfQ+/a==",  # base64-ish: '+', '/', '=' must be encoded
}
AUTH_TOKEN_QUERY = {"merchantId": "A3URCZVLDMDI45"}
MWS_AUTH_TOKEN = "amzn.mws.4ea38b7b-f563-7709-4bae-12ba540c0d2d"


@dataclass(frozen=True)
class Operation:
    name: str
    sdk_method: str
    method: str
    path: str  # below the /{env}/v2 or /v2 prefix
    ids: tuple = ()
    body: Any = None  # dict -> the SDK JSON.stringify()s it, as in real use
    headers: "dict | None" = None
    query: "dict | None" = None
    sdk_args: "Callable[[Operation], list] | None" = None

    def args(self) -> list:
        if self.sdk_args is not None:
            return self.sdk_args(self)
        args: list = list(self.ids)
        if self.body is not None:
            args.append(self.body)
        args.append(self.headers)
        return args


IDEM = {IDEMPOTENCY_HEADER: IDEMPOTENCY_KEY}

OPERATIONS = [
    Operation("create-checkout-session", "createCheckoutSession", "POST", "/checkoutSessions",
              body=CREATE_CHECKOUT_SESSION, headers=IDEM),
    Operation("create-checkout-session-no-idempotency-key", "createCheckoutSession", "POST", "/checkoutSessions",
              body=CREATE_CHECKOUT_SESSION, headers=None),
    Operation("get-checkout-session", "getCheckoutSession", "GET", f"/checkoutSessions/{CHECKOUT_SESSION_ID}",
              ids=(CHECKOUT_SESSION_ID,)),
    Operation("update-checkout-session", "updateCheckoutSession", "PATCH", f"/checkoutSessions/{CHECKOUT_SESSION_ID}",
              ids=(CHECKOUT_SESSION_ID,), body=UPDATE_CHECKOUT_SESSION),
    Operation("update-checkout-session-with-idempotency-key", "updateCheckoutSession", "PATCH",
              f"/checkoutSessions/{CHECKOUT_SESSION_ID}", ids=(CHECKOUT_SESSION_ID,), body=UPDATE_CHECKOUT_SESSION,
              headers=IDEM),
    Operation("complete-checkout-session", "completeCheckoutSession", "POST",
              f"/checkoutSessions/{CHECKOUT_SESSION_ID}/complete", ids=(CHECKOUT_SESSION_ID,),
              body=COMPLETE_CHECKOUT_SESSION),
    Operation("get-charge-permission", "getChargePermission", "GET", f"/chargePermissions/{CHARGE_PERMISSION_ID}",
              ids=(CHARGE_PERMISSION_ID,)),
    Operation("update-charge-permission", "updateChargePermission", "PATCH",
              f"/chargePermissions/{CHARGE_PERMISSION_ID}", ids=(CHARGE_PERMISSION_ID,), body=UPDATE_CHARGE_PERMISSION),
    Operation("close-charge-permission", "closeChargePermission", "DELETE",
              f"/chargePermissions/{CHARGE_PERMISSION_ID}/close", ids=(CHARGE_PERMISSION_ID,),
              body=CLOSE_CHARGE_PERMISSION),
    Operation("create-charge", "createCharge", "POST", "/charges", body=CREATE_CHARGE, headers=IDEM),
    Operation("create-charge-signed-simulation-code", "createCharge", "POST", "/charges", body=CREATE_CHARGE,
              headers={**IDEM, "x-amz-pay-simulation-code": "HardDeclined"}),
    Operation("get-charge", "getCharge", "GET", f"/charges/{CHARGE_ID}", ids=(CHARGE_ID,)),
    Operation("capture-charge", "captureCharge", "POST", f"/charges/{CHARGE_ID}/capture", ids=(CHARGE_ID,),
              body=CAPTURE_CHARGE, headers=IDEM),
    Operation("cancel-charge", "cancelCharge", "DELETE", f"/charges/{CHARGE_ID}/cancel", ids=(CHARGE_ID,),
              body=CANCEL_CHARGE),
    Operation("create-refund", "createRefund", "POST", "/refunds", body=CREATE_REFUND, headers=IDEM),
    Operation("get-refund", "getRefund", "GET", f"/refunds/{REFUND_ID}", ids=(REFUND_ID,)),
    Operation("delivery-trackers", "deliveryTrackers", "POST", "/deliveryTrackers", body=DELIVERY_TRACKERS),
    Operation("get-reports-query", "getReports", "GET", "/reports", query=REPORTS_QUERY,
              sdk_args=lambda op: [dict(op.query), op.headers]),
    Operation("get-authorization-token-query", "getAuthorizationToken", "GET",
              f"/authorizationTokens/{MWS_AUTH_TOKEN}", query=AUTH_TOKEN_QUERY,
              sdk_args=lambda op: [MWS_AUTH_TOKEN, op.query["merchantId"], op.headers]),
]


def sdk_config(profile: KeyProfile, algorithm: "SignatureAlgorithm | None", private_pem: str) -> dict:
    config = {
        "publicKeyId": profile.public_key_id,
        "privateKey": private_pem,
        "region": profile.region,
        "sandbox": profile.sandbox,
    }
    if algorithm is not None:
        config["algorithm"] = algorithm.value
    return config


def our_config(profile: KeyProfile, algorithm: SignatureAlgorithm, private_pem: str) -> AmazonPayConfig:
    return AmazonPayConfig(
        merchant_id="A3URCZVLDMDI45",
        store_id="amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId",
        public_key_id=profile.public_key_id,
        private_key=private_pem,
        region=profile.region,
        sandbox=profile.sandbox,
        algorithm=algorithm,
    )


def our_body(payload: Any) -> str:
    """How AmazonPayClient.request serialises a JSON body."""
    return "" if payload is None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def without_signature(authorization: str) -> str:
    head, sep, _ = authorization.rpartition("Signature=")
    assert sep, authorization
    return head


def node_verifies(oracle, public_pem: str, algorithm, message: str, signature: str, salt_length=None) -> bool:
    algorithm = SignatureAlgorithm.parse(algorithm).value
    return oracle.call("verify", public_key=public_pem, algorithm=algorithm, message=message,
                       signature=signature, salt_length=salt_length)["valid"]


# ----------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
@pytest.mark.parametrize("profile", KEY_PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_request_signing_matches_node_sdk(node_oracle, merchant_keys, operation, profile, algorithm):
    sdk = node_oracle.call(
        "sdk_call",
        config=sdk_config(profile, algorithm, merchant_keys.private_pem),
        method=operation.sdk_method,
        args=operation.args(),
        now_ms=NOW_MS,
    )
    headers = sdk["headers"]
    assert headers["x-amz-pay-date"] == SDK_DATE, "the SDK clock was not pinned"
    assert sdk["algorithm"] == algorithm.value
    assert sdk["public_key_id"] == profile.public_key_id

    # Same route, host, region and body as our client would send.
    ours = our_config(profile, algorithm, merchant_keys.private_pem)
    assert sdk["method"] == operation.method
    assert sdk["path"] == ours.path_prefix + operation.path
    assert headers["x-amz-pay-host"] == ours.api_host
    assert headers["x-amz-pay-region"] == ours.region
    assert sdk["body"] == our_body(operation.body)

    # Same canonical query, from the parameters and from the query string on the wire.
    wire_query = urlsplit(sdk["url"]).query
    assert canonical_query(operation.query) == sdk["query_string"]
    assert canonical_query(wire_query) == sdk["query_string"]

    # Byte-identical canonical request and string to sign, given the headers the SDK signed.
    signed = sdk["signed_headers"]
    sends_idempotency_key = bool(operation.headers) and IDEMPOTENCY_HEADER in operation.headers
    assert (IDEMPOTENCY_HEADER in signed) is sends_idempotency_key
    for query in (operation.query, wire_query):
        canonical = canonical_request(operation.method, sdk["path"], query, headers, signed, sdk["body"])
        assert canonical.encode("utf-8") == sdk["canonical_request"].encode("utf-8")
    ours_sts = string_to_sign(algorithm, canonical)
    assert ours_sts.encode("utf-8") == sdk["string_to_sign"].encode("utf-8")

    # The SDK's signature verifies with our verify(), over the string *we* built.
    assert verify(merchant_keys.public_key, algorithm, ours_sts, sdk["signature"])

    # The SDK's authorization header parses, and re-renders byte for byte.
    parsed = parse_authorization(sdk["authorization"])
    assert parsed == Authorization(algorithm, profile.public_key_id, tuple(signed), sdk["signature"])
    assert parsed.header() == sdk["authorization"]

    # Our signer, signing the same headers, produces the same header (bar the randomised
    # PSS signature), and Node's crypto.verify accepts our signature.
    signer = RequestSigner(merchant_keys.private_key, profile.public_key_id, algorithm)
    authorization = signer.sign_request(
        method=operation.method, path=sdk["path"], query=operation.query, headers=headers, body=sdk["body"],
        signed_headers=signed,
    )
    assert without_signature(authorization) == without_signature(sdk["authorization"])
    ours_signature = parse_authorization(authorization).signature
    assert len(base64.b64decode(ours_signature)) == 256
    assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, sdk["string_to_sign"], ours_signature)


def test_sdk_signs_our_default_headers_plus_user_agent(node_oracle, merchant_keys):
    """Node signs every header it sends; ours signs the PHP/.NET minimum. The difference is user-agent only."""
    profile, algorithm = KEY_PROFILES[0], SignatureAlgorithm.RSASSA_PSS_V2
    for headers, expected_extra in ((IDEM, [IDEMPOTENCY_HEADER]), (None, [])):
        sdk = node_oracle.call("sdk_call", config=sdk_config(profile, algorithm, merchant_keys.private_pem),
                               method="createCharge", args=[CREATE_CHARGE, headers], now_ms=NOW_MS)
        assert sdk["headers"]["user-agent"] == node_oracle.info["user_agent"]
        assert sdk["signed_headers"] == sorted([*DEFAULT_SIGNED_HEADERS, *expected_extra, "user-agent"])

        # Our default choice (no user-agent) over the SDK's own header values still verifies in Node.
        signer = RequestSigner(merchant_keys.private_key, profile.public_key_id, algorithm)
        authorization = signer.sign_request(method="POST", path=sdk["path"], query=None, headers=sdk["headers"],
                                            body=sdk["body"])
        parsed = parse_authorization(authorization)
        assert list(parsed.signed_headers) == sorted([*DEFAULT_SIGNED_HEADERS, *expected_extra])
        message = string_to_sign(algorithm, canonical_request("POST", sdk["path"], None, sdk["headers"],
                                                              parsed.signed_headers, sdk["body"]))
        assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, parsed.signature)


def test_get_signed_headers_entry_point_and_string_payload(node_oracle, merchant_keys):
    """SDK getSignedHeaders() with a pre-serialised (pretty-printed, unicode) body and extra signed headers."""
    body = json.dumps(CREATE_CHECKOUT_SESSION, indent=2, ensure_ascii=False) + "\n"
    for algorithm in ALGORITHMS:
        sdk = node_oracle.call(
            "signed_headers",
            config=sdk_config(KEY_PROFILES[2], algorithm, merchant_keys.private_pem),
            options={
                "method": "POST",
                "urlFragment": "checkoutSessions",
                "payload": body,
                "headers": {**IDEM, "x-amz-pay-authtoken": "Atza|IwEBIExample", "x-amz-pay-simulation-code": "None"},
            },
            now_ms=NOW_MS,
        )
        assert sdk["path"] == "/v2/checkoutSessions"
        assert sdk["body"] == body
        canonical = canonical_request("POST", sdk["path"], None, sdk["headers"], sdk["signed_headers"], body.encode())
        assert canonical == sdk["canonical_request"]
        assert string_to_sign(algorithm, canonical) == sdk["string_to_sign"]
        assert verify(merchant_keys.public_key, algorithm, sdk["string_to_sign"], sdk["signature"])


def test_sdk_default_algorithm_is_rsassa_pss(node_oracle, merchant_keys):
    sdk = node_oracle.call("sdk_call", config=sdk_config(KEY_PROFILES[0], None, merchant_keys.private_pem),
                           method="getCharge", args=[CHARGE_ID, None], now_ms=NOW_MS)
    assert parse_authorization(sdk["authorization"]).algorithm is SignatureAlgorithm.RSASSA_PSS
    assert sdk["string_to_sign"] == string_to_sign(
        "AMZN-PAY-RSASSA-PSS",
        canonical_request("GET", sdk["path"], None, sdk["headers"], sdk["signed_headers"], b""),
    )
    assert verify(merchant_keys.public_key, SignatureAlgorithm.RSASSA_PSS, sdk["string_to_sign"], sdk["signature"])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_negative_controls(node_oracle, merchant_keys, other_keys, algorithm):
    """The cross-verification above is not vacuous: wrong salt, wrong key or a changed byte all fail."""
    other_algorithm = next(a for a in ALGORITHMS if a is not algorithm)
    sdk = node_oracle.call("sdk_call", config=sdk_config(KEY_PROFILES[0], algorithm, merchant_keys.private_pem),
                           method="createRefund", args=[CREATE_REFUND, IDEM], now_ms=NOW_MS)
    message, sdk_signature = sdk["string_to_sign"], sdk["signature"]
    tampered = message[:-1] + ("0" if message[-1] != "0" else "1")

    # Python side, SDK signature.
    assert verify(merchant_keys.public_key, algorithm, message, sdk_signature)
    assert not verify(merchant_keys.public_key, other_algorithm, message, sdk_signature)  # salt 20 vs 32
    assert not verify(other_keys.public_key, algorithm, message, sdk_signature)
    assert not verify(merchant_keys.public_key, algorithm, tampered, sdk_signature)

    # Node side, our signature.
    ours = RequestSigner(merchant_keys.private_key, KEY_PROFILES[0].public_key_id, algorithm).sign_string(message)
    assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, ours)
    assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, ours,
                         salt_length=algorithm.salt_length)
    assert not node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, ours,
                             salt_length=other_algorithm.salt_length)
    assert not node_verifies(node_oracle, other_keys.public_pem, algorithm, message, ours)
    assert not node_verifies(node_oracle, merchant_keys.public_pem, algorithm, tampered, ours)


# ----------------------------------------------------------------------------------------
# Strings and button payloads


SIGN_STRINGS = [
    "",
    "hello",
    f"AMZN-PAY-RSASSA-PSS\n{BUTTON_VECTOR_SHA256}",
    "Grüße aus 東京 🎉\nzweite Zeile\r\n\u2028",
]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_raw_string_signatures_cross_verify(node_oracle, merchant_keys, algorithm):
    signer = RequestSigner(merchant_keys.private_key, "ABC123DEF456XYZ789IJK000", algorithm)
    config = sdk_config(KEY_PROFILES[0], algorithm, merchant_keys.private_pem)
    for message in SIGN_STRINGS:
        sdk = node_oracle.call("sign_string", config=config, message=message)  # the SDK's internal sign()
        assert sdk["algorithm"] == algorithm.value
        assert verify(merchant_keys.public_key, algorithm, message, sdk["signature"]), repr(message)
        assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, signer.sign_string(message))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_button_signature_official_vector(node_oracle, merchant_keys, algorithm):
    assert hex_sha256(BUTTON_VECTOR_PAYLOAD) == BUTTON_VECTOR_SHA256
    expected_message = f"{algorithm.value}\n{BUTTON_VECTOR_SHA256}"

    sdk = node_oracle.call("sign_button", config=sdk_config(KEY_PROFILES[3], algorithm, merchant_keys.private_pem),
                           payload=BUTTON_VECTOR_PAYLOAD)
    assert sdk["string_to_sign"] == expected_message
    assert sdk["payload_json"] == BUTTON_VECTOR_PAYLOAD
    assert verify(merchant_keys.public_key, algorithm, expected_message, sdk["signature"])

    ours = RequestSigner(merchant_keys.private_key, KEY_PROFILES[3].public_key_id, algorithm).sign_button_payload(
        BUTTON_VECTOR_PAYLOAD
    )
    assert ours.payload_json == BUTTON_VECTOR_PAYLOAD
    assert ours.algorithm is algorithm
    assert ours.as_button_config() == {
        "payloadJSON": BUTTON_VECTOR_PAYLOAD,
        "signature": ours.signature,
        "publicKeyId": KEY_PROFILES[3].public_key_id,
        "algorithm": algorithm.value,
    }
    assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, expected_message, ours.signature)


BUTTON_PAYLOAD_OBJECT = {
    "webCheckoutDetails": {
        "checkoutReviewReturnUrl": "https://shop.example/checkout/review",
        "checkoutResultReturnUrl": "https://shop.example/checkout/result?x=1&y=2",
    },
    "storeId": "amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId",
    "scopes": ["name", "email"],
    "checkoutMode": "ProcessOrder",
    "paymentDetails": {
        "paymentIntent": "AuthorizeWithCapture",
        "chargeAmount": {"amount": "99.90", "currencyCode": "EUR"},
    },
    "merchantMetadata": {"merchantStoreName": "Café Zürich — 東京店 🎉", "noteToBuyer": UNICODE_NOTE},
    "addressDetails": {"name": "Jürgen Müller", "addressLine1": "Straße 1", "postalCode": "80331", "countryCode": "DE"},
}


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_button_signature_object_payload(node_oracle, merchant_keys, algorithm):
    """The SDK JSON.stringify()s an object payload; we must produce the same payloadJSON."""
    sdk = node_oracle.call("sign_button", config=sdk_config(KEY_PROFILES[1], algorithm, merchant_keys.private_pem),
                           payload=BUTTON_PAYLOAD_OBJECT)
    ours = RequestSigner(merchant_keys.private_key, KEY_PROFILES[1].public_key_id, algorithm).sign_button_payload(
        BUTTON_PAYLOAD_OBJECT
    )
    assert button_payload_json(BUTTON_PAYLOAD_OBJECT) == sdk["payload_json"]
    assert ours.payload_json.encode("utf-8") == sdk["payload_json"].encode("utf-8")
    message = f"{algorithm.value}\n{hex_sha256(ours.payload_json)}"
    assert sdk["string_to_sign"] == message
    assert verify(merchant_keys.public_key, algorithm, message, sdk["signature"])
    assert node_verifies(node_oracle, merchant_keys.public_pem, algorithm, message, ours.signature)


# ----------------------------------------------------------------------------------------
# Known divergences (edge cases outside anything the Amazon Pay API sends)


def _sdk_reports(node_oracle, merchant_keys, query: dict, headers=None) -> dict:
    return node_oracle.call(
        "sdk_call",
        config=sdk_config(KEY_PROFILES[0], SignatureAlgorithm.RSASSA_PSS_V2, merchant_keys.private_pem),
        method="getReports", args=[query, headers], now_ms=NOW_MS,
    )


def test_divergence_query_sub_delims_left_raw_by_node(node_oracle, merchant_keys):
    """Node's encodeURIComponent leaves ``!'()*`` unencoded; we (like PHP rawurlencode and
    .NET/Java) encode them. No Amazon Pay v2 query parameter can contain them (merchant ids,
    report types/statuses, compact dates, page sizes, base64 next tokens)."""
    sdk = _sdk_reports(node_oracle, merchant_keys, {"reportTypes": "it's (a)*!"})
    assert sdk["query_string"] == "reportTypes=it's%20(a)*!"
    assert canonical_query({"reportTypes": "it's (a)*!"}) == "reportTypes=it%27s%20%28a%29%2A%21"
    # Decoding the SDK's wire query and re-encoding (what an emulator does) gives our form,
    # so a Node-signed request with such a value would not verify there.
    assert canonical_query(urlsplit(sdk["url"]).query) == "reportTypes=it%27s%20%28a%29%2A%21"


def test_divergence_empty_query_values_kept_by_node(node_oracle, merchant_keys):
    """Node signs ``key=`` for an empty value; we drop the pair, as the PHP SDK does."""
    sdk = _sdk_reports(node_oracle, merchant_keys, {"reportTypes": "X", "nextToken": ""})
    assert sdk["query_string"] == "nextToken=&reportTypes=X"
    assert canonical_query({"reportTypes": "X", "nextToken": ""}) == "reportTypes=X"


def test_divergence_list_query_values(node_oracle, merchant_keys):
    """getReports() joins list values with commas; our canonical_query flattens lists PHP-style
    (``key.1``, ``key.2``). Callers wanting Node's form must pass the joined string."""
    sdk = _sdk_reports(node_oracle, merchant_keys, {"reportTypes": ["A", "B"]})
    assert sdk["query_string"] == "reportTypes=A%2CB"
    assert canonical_query({"reportTypes": ["A", "B"]}) == "reportTypes.1=A&reportTypes.2=B"
    assert canonical_query({"reportTypes": "A,B"}) == sdk["query_string"]


def _sdk_signed_headers(node_oracle, merchant_keys, headers: dict) -> dict:
    return node_oracle.call(
        "signed_headers",
        config=sdk_config(KEY_PROFILES[0], SignatureAlgorithm.RSASSA_PSS_V2, merchant_keys.private_pem),
        options={"method": "POST", "urlFragment": "charges", "payload": "{}", "headers": headers},
        now_ms=NOW_MS,
    )


def test_divergence_mixed_case_header_names_in_node_signed_headers(node_oracle, merchant_keys):
    """Node keeps the caller's spelling of a header name in ``SignedHeaders`` (its canonical
    header *lines* are lowercased). We always lowercase, so for ``X-Amz-Pay-Idempotency-Key``
    the canonical requests differ. The SDK's README always uses lowercase names."""
    sdk = _sdk_signed_headers(node_oracle, merchant_keys, {"X-Amz-Pay-Idempotency-Key": IDEMPOTENCY_KEY})
    assert "X-Amz-Pay-Idempotency-Key" in sdk["signed_headers"]
    assert ";X-Amz-Pay-Idempotency-Key;" in sdk["canonical_request"]
    ours = canonical_request("POST", sdk["path"], None, sdk["headers"], sdk["signed_headers"], "{}")
    assert ours == sdk["canonical_request"].replace("X-Amz-Pay-Idempotency-Key", IDEMPOTENCY_HEADER)
    assert not verify(merchant_keys.public_key, SignatureAlgorithm.RSASSA_PSS_V2,
                      string_to_sign(SignatureAlgorithm.RSASSA_PSS_V2, ours), sdk["signature"])


def test_divergence_header_order_underscore_vs_hyphen(node_oracle, merchant_keys):
    """Node sorts header names with ``localeCompare`` (ICU: ``_`` before ``-``); we sort by code
    point (``-`` before ``_``). Only matters for header names containing ``_``."""
    sdk = _sdk_signed_headers(node_oracle, merchant_keys, {"x-amz-pay-a-b": "1", "x-amz-pay-a_b": "2"})
    names = sdk["signed_headers"]
    assert names.index("x-amz-pay-a_b") < names.index("x-amz-pay-a-b")
    ours = canonical_request("POST", sdk["path"], None, sdk["headers"], names, "{}")
    assert ";x-amz-pay-a-b;x-amz-pay-a_b;" in ours and ";x-amz-pay-a_b;x-amz-pay-a-b;" in sdk["canonical_request"]


def test_divergence_header_value_whitespace(node_oracle, merchant_keys):
    """Node signs header values verbatim; we trim and collapse whitespace runs (as Java
    does). The headers the SDKs send carry no such whitespace."""
    sdk = _sdk_signed_headers(node_oracle, merchant_keys, {"x-amz-pay-simulation-code": "  Hard  Declined "})
    assert "\nx-amz-pay-simulation-code:  Hard  Declined \n" in sdk["canonical_request"]
    ours = canonical_request("POST", sdk["path"], None, sdk["headers"], sdk["signed_headers"], "{}")
    assert "\nx-amz-pay-simulation-code:Hard Declined\n" in ours
