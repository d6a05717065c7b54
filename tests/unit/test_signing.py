"""AMZN-PAY-RSASSA-PSS(-V2) signing: golden vectors written by hand from the spec.

Expected strings below are typed from the API notes (§2 and the .NET/PHP SDK test
vectors), never produced by the code under test. PSS signatures are randomized, so
signatures are checked by verifying them, with the package's verifier *and* directly
with ``cryptography`` using the salt length the spec gives (20 / 32 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from saleor_amazonpay.core import ButtonSignature, RequestSigner, SignatureAlgorithm, signing
from saleor_amazonpay.core.signing import (
    Authorization,
    canonical_headers,
    canonical_query,
    canonical_request,
    format_amz_date,
    hex_sha256,
    load_private_key,
    load_public_key,
    parse_amz_date,
    parse_authorization,
    string_to_sign,
    verify,
)

pytestmark = pytest.mark.unit

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DEFAULT_SIGNED = "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region"

# php tests/unit/ClientTest.php::testGenerateButtonSignature and dotnet SignatureHelperTest.
BUTTON_PAYLOAD = (
    '{"storeId":"amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",'
    '"webCheckoutDetails":{"checkoutReviewReturnUrl":"https://localhost/test/CheckoutReview.php",'
    '"checkoutResultReturnUrl":"https://localhost/test/CheckoutResult.php"}}'
)
BUTTON_PAYLOAD_SHA256 = "8dec52d799607be40f82d5c8e7ecb6c171e6591c41b1111a576b16076c89381c"

SALT = {"AMZN-PAY-RSASSA-PSS": 20, "AMZN-PAY-RSASSA-PSS-V2": 32}

# .NET CanonicalBuilderTest header set (EU host, date from the .NET example).
DOTNET_HEADERS = {
    "accept": "application/json",
    "content-type": "application/json",
    "x-amz-pay-date": "20181013T004102Z",
    "x-amz-pay-host": "pay-api.amazon.eu",
    "x-amz-pay-region": "eu",
}
DOTNET_CANONICAL_HEADERS = (
    "accept:application/json\n"
    "content-type:application/json\n"
    "x-amz-pay-date:20181013T004102Z\n"
    "x-amz-pay-host:pay-api.amazon.eu\n"
    "x-amz-pay-region:eu\n"
)


def _independent_verify(public_key: rsa.RSAPublicKey, salt_length: int, message: str, signature_b64: str) -> bool:
    """RSASSA-PSS / SHA-256 / MGF1-SHA-256 with an explicit salt length, straight from the spec."""
    try:
        public_key.verify(
            base64.b64decode(signature_b64, validate=True),
            message.encode("utf-8"),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def signer_for(rsa_private_key):
    def make(algorithm: str, key_id: str = "ABC123DEF456XYZ789IJK000") -> RequestSigner:
        return RequestSigner(rsa_private_key, key_id, algorithm)

    return make


# --- hashing and canonical pieces ---------------------------------------------------------


def test_empty_body_hash_is_the_spec_constant():
    assert hex_sha256(b"") == EMPTY_SHA256
    assert hex_sha256("") == EMPTY_SHA256
    assert signing.hex_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_button_payload_hash_matches_the_sdk_vector():
    assert hex_sha256(BUTTON_PAYLOAD) == BUTTON_PAYLOAD_SHA256


@pytest.mark.parametrize(
    "query",
    [
        {"customInformation": "Information about order", "amount": "100.50"},
        {"amount": "100.50", "customInformation": "Information about order"},
        "customInformation=Information%20about%20order&amount=100.50",
        "amount=100.50&customInformation=Information%20about%20order",
    ],
)
def test_canonical_query_dotnet_vector(query):
    # Keys sorted, space -> %20 (never "+").
    assert canonical_query(query) == "amount=100.50&customInformation=Information%20about%20order"


def test_canonical_query_empty():
    assert canonical_query(None) == ""
    assert canonical_query({}) == ""
    assert canonical_query("") == ""


def test_canonical_query_php_rules_drop_empty_and_flatten_arrays():
    query = {"metadata": ["first", "second"], "empty": "", "missing": None, "amount": "1.00"}
    assert canonical_query(query) == "amount=1.00&metadata.1=first&metadata.2=second"


@pytest.mark.parametrize(
    "value, encoded",
    [
        ("a~b", "a~b"),  # unreserved stays
        ("a-b_c.d", "a-b_c.d"),
        ("a/b", "a%2Fb"),
        ("a&b=c", "a%26b%3Dc"),
        ("caf\u00e9", "caf%C3%A9"),
        ("1+1", "1%2B1"),
    ],
)
def test_canonical_query_rfc3986_encoding(value, encoded):
    assert canonical_query({"k": value}) == f"k={encoded}"


def test_canonical_query_wire_string_round_trips():
    canonical = canonical_query({"b": "x y", "a": "caf\u00e9/1"})
    assert canonical == "a=caf%C3%A9%2F1&b=x%20y"
    assert canonical_query(canonical) == canonical


def test_canonical_headers_dotnet_vector():
    names = DEFAULT_SIGNED.split(";")
    assert canonical_headers(DOTNET_HEADERS, names) == DOTNET_CANONICAL_HEADERS


def test_canonical_headers_php_vector_and_case_insensitive_names():
    # php testGetHeaderString: accept, content-type, x-amz-pay-host (JP).
    headers = {"Accept": "application/json", "Content-Type": "application/json", "X-Amz-Pay-Host": "pay-api.amazon.jp"}
    assert (
        canonical_headers(headers, ["accept", "content-type", "x-amz-pay-host"])
        == "accept:application/json\ncontent-type:application/json\nx-amz-pay-host:pay-api.amazon.jp\n"
    )


def test_canonical_headers_trim_values_like_java():
    headers = {"accept": "  application/json  ", "x-amz-pay-region": "eu"}
    assert (
        canonical_headers(headers, ["accept", "x-amz-pay-region"]) == "accept:application/json\nx-amz-pay-region:eu\n"
    )


def test_canonical_headers_missing_signed_header_is_an_error():
    with pytest.raises(KeyError):
        canonical_headers({"accept": "application/json"}, ["accept", "x-amz-pay-date"])


# --- canonical request layout ---------------------------------------------------------------


def test_canonical_request_get_golden_vector():
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "x-amz-pay-date": "20181013T004102Z",
        "x-amz-pay-host": "pay-api.amazon.com",
        "x-amz-pay-region": "na",
        "user-agent": "not-signed/1.0",
    }
    expected = (
        "GET\n"
        "/sandbox/v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275\n"
        "\n"
        "accept:application/json\n"
        "content-type:application/json\n"
        "x-amz-pay-date:20181013T004102Z\n"
        "x-amz-pay-host:pay-api.amazon.com\n"
        "x-amz-pay-region:na\n"
        "\n"
        "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    got = canonical_request(
        "get",
        "/sandbox/v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275",
        None,
        headers,
        DEFAULT_SIGNED.split(";"),
        b"",
    )
    assert got == expected


def test_canonical_request_dotnet_shape_with_empty_query():
    body = b'{"scanData":"UKhrmatMeKdlfY6b","scanReferenceId":"0b8fb271-2ae2-49a5-b35d4","merchantCOE":"US"}'
    expected = (
        "POST"
        + "\n"
        + "/sandbox/in-store/v1/merchantScan"
        + "\n"
        + "\n"
        + DOTNET_CANONICAL_HEADERS
        + "\n"
        + DEFAULT_SIGNED
        + "\n"
        + hashlib.sha256(body).hexdigest()
    )
    got = canonical_request(
        "POST", "/sandbox/in-store/v1/merchantScan", "", DOTNET_HEADERS, DEFAULT_SIGNED.split(";"), body
    )
    assert got == expected


def test_canonical_request_with_query_and_unsorted_signed_headers():
    headers = {
        "X-Amz-Pay-Region": "eu",
        "Accept": "application/json",
        "X-Amz-Pay-Host": "pay-api.amazon.eu",
        "X-Amz-Pay-Date": "20181013T004102Z",
        "Content-Type": "application/json",
    }
    signed = ["X-Amz-Pay-Region", "x-amz-pay-host", "ACCEPT", "x-amz-pay-date", "content-type"]
    expected = (
        "GET\n/live/v2/reports\n"
        "amount=100.50&customInformation=Information%20about%20order\n"
        + DOTNET_CANONICAL_HEADERS
        + "\n"
        + DEFAULT_SIGNED
        + "\n"
        + EMPTY_SHA256
    )
    query = {"customInformation": "Information about order", "amount": "100.50"}
    assert canonical_request("GET", "/live/v2/reports", query, headers, signed) == expected


def test_canonical_request_hashes_utf8_bytes_of_a_str_body():
    body = '{"noteToBuyer":"Danke sch\u00f6n"}'
    got = canonical_request("PATCH", "/v2/checkoutSessions/x", None, DOTNET_HEADERS, DEFAULT_SIGNED.split(";"), body)
    assert got.endswith("\n" + hashlib.sha256(body.encode("utf-8")).hexdigest())


@pytest.mark.parametrize("path, canonical_path", [("", "/"), ("sandbox/v2/charges", "/sandbox/v2/charges")])
def test_canonical_uri_gets_a_leading_slash(path, canonical_path):
    # .NET CanonicalBuilderTest: "" -> "/", missing leading slash added.
    got = canonical_request("GET", path, None, DOTNET_HEADERS, DEFAULT_SIGNED.split(";"))
    assert got.split("\n")[1] == canonical_path


def test_canonical_request_idempotency_key_sorted_into_place():
    headers = dict(DOTNET_HEADERS, **{"x-amz-pay-idempotency-key": "abc123"})
    signed = DEFAULT_SIGNED.split(";") + ["x-amz-pay-idempotency-key"]
    got = canonical_request("POST", "/v2/charges", None, headers, signed, b"{}")
    lines = got.split("\n")
    assert lines[3:9] == [
        "accept:application/json",
        "content-type:application/json",
        "x-amz-pay-date:20181013T004102Z",
        "x-amz-pay-host:pay-api.amazon.eu",
        "x-amz-pay-idempotency-key:abc123",
        "x-amz-pay-region:eu",
    ]
    assert lines[9] == ""
    assert lines[10] == "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-idempotency-key;x-amz-pay-region"


@pytest.mark.parametrize("algorithm", ["AMZN-PAY-RSASSA-PSS", "AMZN-PAY-RSASSA-PSS-V2"])
def test_string_to_sign_layout(algorithm):
    canonical = "GET\n/\n\n\n\n" + EMPTY_SHA256
    assert string_to_sign(algorithm, canonical) == algorithm + "\n" + hashlib.sha256(canonical.encode()).hexdigest()
    assert string_to_sign(SignatureAlgorithm(algorithm), canonical) == string_to_sign(algorithm, canonical)


def test_string_to_sign_rejects_unknown_algorithm():
    with pytest.raises(ValueError):
        string_to_sign("RSA-SHA256", "x")


# --- algorithms -----------------------------------------------------------------------------


def test_algorithm_values_and_salt_lengths():
    assert SignatureAlgorithm.RSASSA_PSS.value == "AMZN-PAY-RSASSA-PSS"
    assert SignatureAlgorithm.RSASSA_PSS.salt_length == 20
    assert SignatureAlgorithm.RSASSA_PSS_V2.value == "AMZN-PAY-RSASSA-PSS-V2"
    assert SignatureAlgorithm.RSASSA_PSS_V2.salt_length == 32
    assert SignatureAlgorithm.parse("AMZN-PAY-RSASSA-PSS-V2") is SignatureAlgorithm.RSASSA_PSS_V2
    with pytest.raises(ValueError, match="not a valid"):
        SignatureAlgorithm.parse("amzn-pay-rsassa-pss")


# --- button signature -----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["AMZN-PAY-RSASSA-PSS", "AMZN-PAY-RSASSA-PSS-V2"])
def test_button_signature_sdk_vector(signer_for, public_key, algorithm):
    result = signer_for(algorithm).sign_button_payload(BUTTON_PAYLOAD)
    assert isinstance(result, ButtonSignature)
    assert result.payload_json == BUTTON_PAYLOAD
    expected_message = algorithm + "\n" + BUTTON_PAYLOAD_SHA256
    assert _independent_verify(public_key, SALT[algorithm], expected_message, result.signature)
    assert verify(public_key, algorithm, expected_message, result.signature)
    other = "AMZN-PAY-RSASSA-PSS-V2" if algorithm == "AMZN-PAY-RSASSA-PSS" else "AMZN-PAY-RSASSA-PSS"
    # The algorithm name is part of what is signed.
    assert not _independent_verify(public_key, SALT[algorithm], other + "\n" + BUTTON_PAYLOAD_SHA256, result.signature)
    assert result.as_button_config() == {
        "payloadJSON": BUTTON_PAYLOAD,
        "signature": result.signature,
        "publicKeyId": "ABC123DEF456XYZ789IJK000",
        "algorithm": algorithm,
    }


def test_button_payload_dict_serialises_like_json_stringify(signer_for, public_key):
    payload = {
        "storeId": "amzn1.application-oa2-client.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "webCheckoutDetails": {
            "checkoutReviewReturnUrl": "https://localhost/test/CheckoutReview.php",
            "checkoutResultReturnUrl": "https://localhost/test/CheckoutResult.php",
        },
    }
    result = signer_for("AMZN-PAY-RSASSA-PSS").sign_button_payload(payload)
    assert result.payload_json == BUTTON_PAYLOAD  # no spaces, "/" not escaped
    assert _independent_verify(public_key, 20, "AMZN-PAY-RSASSA-PSS\n" + BUTTON_PAYLOAD_SHA256, result.signature)


def test_button_payload_keeps_unicode_unescaped(signer_for):
    result = signer_for("AMZN-PAY-RSASSA-PSS-V2").sign_button_payload({"merchantStoreName": "Caf\u00e9 \u6771\u4eac"})
    assert result.payload_json == '{"merchantStoreName":"Caf\u00e9 \u6771\u4eac"}'


# --- request signing: round trips ------------------------------------------------------------


def _request_headers(**extra: str) -> dict:
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "x-amz-pay-date": "20240105T131415Z",
        "x-amz-pay-host": "pay-api.amazon.com",
        "x-amz-pay-region": "na",
    }
    headers.update(extra)
    return headers


def _hand_canonical(method, path, query, headers, signed, body: bytes) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    return (
        f"{method}\n{path}\n{query}\n"
        + "".join(f"{name}:{lowered[name]}\n" for name in signed)
        + "\n"
        + ";".join(signed)
        + "\n"
        + hashlib.sha256(body).hexdigest()
    )


AUTH_RE = re.compile(
    r"^(?P<algo>AMZN-PAY-RSASSA-PSS(?:-V2)?) PublicKeyId=(?P<kid>[^,]+), "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[A-Za-z0-9+/]+={0,2})$"
)


@pytest.mark.parametrize("algorithm", ["AMZN-PAY-RSASSA-PSS", "AMZN-PAY-RSASSA-PSS-V2"])
def test_sign_request_round_trip_and_header_format(signer_for, public_key, algorithm):
    body = b'{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}'
    headers = _request_headers(**{"user-agent": "x/1", "x-amz-pay-simulation-code": "Declined"})
    path = "/sandbox/v2/checkoutSessions/bd504926-f659-4ad7-a1a9-9a747aaf5275/complete"
    header = signer_for(algorithm).sign_request(method="POST", path=path, query=None, headers=headers, body=body)

    match = AUTH_RE.match(header)
    assert match, header
    assert match["algo"] == algorithm
    assert match["kid"] == "ABC123DEF456XYZ789IJK000"
    # user-agent and the simulation code are sent unsigned, as the PHP SDK does.
    assert match["signed"] == DEFAULT_SIGNED
    assert len(base64.b64decode(match["sig"])) == 256  # 2048-bit key

    canonical = _hand_canonical("POST", path, "", headers, DEFAULT_SIGNED.split(";"), body)
    message = algorithm + "\n" + hashlib.sha256(canonical.encode()).hexdigest()
    assert _independent_verify(public_key, SALT[algorithm], message, match["sig"])
    assert verify(public_key, algorithm, message, match["sig"])


@pytest.mark.parametrize(
    "signed_with, verified_with",
    [("AMZN-PAY-RSASSA-PSS", "AMZN-PAY-RSASSA-PSS-V2"), ("AMZN-PAY-RSASSA-PSS-V2", "AMZN-PAY-RSASSA-PSS")],
)
def test_wrong_salt_length_does_not_verify(signer_for, public_key, signed_with, verified_with):
    message = "AMZN-PAY-RSASSA-PSS\n" + EMPTY_SHA256
    signature = signer_for(signed_with).sign_string(message)
    assert verify(public_key, signed_with, message, signature)
    assert _independent_verify(public_key, SALT[signed_with], message, signature)
    assert not verify(public_key, verified_with, message, signature)
    assert not _independent_verify(public_key, SALT[verified_with], message, signature)


def test_signatures_are_randomized_but_both_verify(signer_for, public_key):
    signer = signer_for("AMZN-PAY-RSASSA-PSS-V2")
    first, second = signer.sign_string("m"), signer.sign_string("m")
    assert first != second
    assert verify(public_key, "AMZN-PAY-RSASSA-PSS-V2", "m", first)
    assert verify(public_key, "AMZN-PAY-RSASSA-PSS-V2", "m", second)


def test_verify_rejects_tampering_and_garbage(signer_for, public_key):
    signature = signer_for("AMZN-PAY-RSASSA-PSS").sign_string("message")
    assert not verify(public_key, "AMZN-PAY-RSASSA-PSS", "messagE", signature)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    assert not verify(public_key, "AMZN-PAY-RSASSA-PSS", "message", base64.b64encode(bytes(raw)).decode())
    assert not verify(public_key, "AMZN-PAY-RSASSA-PSS", "message", "not base64 !!")
    assert not verify(public_key, "AMZN-PAY-RSASSA-PSS", "message", "")


def test_verify_with_another_key_fails(signer_for):
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    signature = signer_for("AMZN-PAY-RSASSA-PSS").sign_string("message")
    assert not verify(other, "AMZN-PAY-RSASSA-PSS", "message", signature)


def test_idempotency_key_is_signed_when_present(signer_for, public_key):
    headers = _request_headers(**{"x-amz-pay-idempotency-key": "a1b2c3d4e5"})
    body = b'{"chargePermissionId":"S01-0000000-0000000"}'
    header = signer_for("AMZN-PAY-RSASSA-PSS-V2").sign_request(
        method="POST", path="/live/v2/charges", query=None, headers=headers, body=body
    )
    auth = parse_authorization(header)
    expected_signed = (
        "accept",
        "content-type",
        "x-amz-pay-date",
        "x-amz-pay-host",
        "x-amz-pay-idempotency-key",
        "x-amz-pay-region",
    )
    assert auth.signed_headers == expected_signed
    canonical = _hand_canonical("POST", "/live/v2/charges", "", headers, list(expected_signed), body)
    assert _independent_verify(public_key, 32, "AMZN-PAY-RSASSA-PSS-V2\n" + hex_sha256(canonical), auth.signature)
    # A different key value is a different request.
    tampered = dict(headers, **{"x-amz-pay-idempotency-key": "a1b2c3d4e6"})
    canonical2 = _hand_canonical("POST", "/live/v2/charges", "", tampered, list(expected_signed), body)
    assert not _independent_verify(public_key, 32, "AMZN-PAY-RSASSA-PSS-V2\n" + hex_sha256(canonical2), auth.signature)


def test_idempotency_header_name_is_case_insensitive(signer_for):
    headers = _request_headers(**{"X-Amz-Pay-Idempotency-Key": "abc"})
    header = signer_for("AMZN-PAY-RSASSA-PSS").sign_request(
        method="POST", path="/v2/refunds", query=None, headers=headers, body=b"{}"
    )
    assert "x-amz-pay-idempotency-key" in parse_authorization(header).signed_headers


def test_explicit_signed_headers_list(signer_for, public_key):
    headers = _request_headers(**{"user-agent": "node-like/1"})
    signed = ["user-agent", "accept", "content-type", "x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region"]
    header = signer_for("AMZN-PAY-RSASSA-PSS").sign_request(
        method="GET", path="/v2/charges/S01-1", query=None, headers=headers, signed_headers=signed
    )
    auth = parse_authorization(header)
    # Node SDK order: sorted, user-agent included.
    assert (
        ";".join(auth.signed_headers) == "accept;content-type;user-agent;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region"
    )
    canonical = _hand_canonical("GET", "/v2/charges/S01-1", "", headers, list(auth.signed_headers), b"")
    assert _independent_verify(public_key, 20, "AMZN-PAY-RSASSA-PSS\n" + hex_sha256(canonical), auth.signature)


def test_sign_request_with_query(signer_for, public_key):
    query = {"customInformation": "Information about order", "amount": "100.50"}
    headers = _request_headers()
    header = signer_for("AMZN-PAY-RSASSA-PSS-V2").sign_request(
        method="GET", path="/live/v2/reports", query=query, headers=headers
    )
    auth = parse_authorization(header)
    canonical = _hand_canonical(
        "GET",
        "/live/v2/reports",
        "amount=100.50&customInformation=Information%20about%20order",
        headers,
        DEFAULT_SIGNED.split(";"),
        b"",
    )
    assert _independent_verify(public_key, 32, "AMZN-PAY-RSASSA-PSS-V2\n" + hex_sha256(canonical), auth.signature)


def test_signer_repr_hides_the_key(signer_for, pem_body_fragment):
    signer = signer_for("AMZN-PAY-RSASSA-PSS-V2")
    text = repr(signer) + str(signer)
    assert "ABC123DEF456XYZ789IJK000" in text
    assert pem_body_fragment not in text
    assert "BEGIN" not in text
    assert not hasattr(signer, "__dict__")  # __slots__: nothing else can hang off it


# --- parse_authorization --------------------------------------------------------------------


def test_parse_authorization_literal_header():
    value = (
        "AMZN-PAY-RSASSA-PSS PublicKeyId=SANDBOX-AHEGSJCM3XFZ3SKVFAN4OWEF, "
        "SignedHeaders=accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region, "
        "Signature=dGVzdA+/sig=="
    )
    auth = parse_authorization(value)
    assert auth == Authorization(
        SignatureAlgorithm.RSASSA_PSS,
        "SANDBOX-AHEGSJCM3XFZ3SKVFAN4OWEF",
        ("accept", "content-type", "x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region"),
        "dGVzdA+/sig==",
    )
    assert auth.header() == value


def test_parse_authorization_tolerates_spacing_and_upper_case_names():
    auth = parse_authorization(
        "  AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=ABC,SignedHeaders=Accept;X-Amz-Pay-Date,   Signature=abc=  "
    )
    assert auth.algorithm is SignatureAlgorithm.RSASSA_PSS_V2
    assert auth.public_key_id == "ABC"
    assert auth.signed_headers == ("accept", "x-amz-pay-date")
    assert auth.signature == "abc="


@pytest.mark.parametrize(
    "value",
    [
        "",
        "AMZN-PAY-RSASSA-PSS",
        "AMZN-PAY-RSASSA-PSS PublicKeyId=ABC, SignedHeaders=accept",
        "AMZN-PAY-RSASSA-PSS SignedHeaders=accept, PublicKeyId=ABC, Signature=x",
        "RSA-SHA256 PublicKeyId=ABC, SignedHeaders=accept, Signature=x",
        "Bearer abc",
    ],
)
def test_parse_authorization_rejects_malformed(value):
    with pytest.raises(ValueError):
        parse_authorization(value)


def test_parse_authorization_of_a_real_signature(signer_for):
    header = signer_for("AMZN-PAY-RSASSA-PSS-V2", "LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF").sign_request(
        method="GET", path="/v2/refunds/S01-1-R1", query=None, headers=_request_headers()
    )
    auth = parse_authorization(header)
    assert auth.public_key_id == "LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF"
    assert auth.algorithm is SignatureAlgorithm.RSASSA_PSS_V2
    assert auth.header() == header


# --- dates ----------------------------------------------------------------------------------


def test_format_amz_date_compact_utc():
    assert format_amz_date(datetime(2018, 10, 13, 0, 41, 2, tzinfo=timezone.utc)) == "20181013T004102Z"
    assert format_amz_date(datetime(2024, 1, 5, 13, 14, 15, 999999, tzinfo=timezone.utc)) == "20240105T131415Z"


def test_format_amz_date_converts_other_zones_to_utc():
    cest = timezone(timedelta(hours=2))
    assert format_amz_date(datetime(2018, 10, 13, 2, 41, 2, tzinfo=cest)) == "20181013T004102Z"
    # Across midnight and a year boundary.
    west = timezone(timedelta(hours=-8))
    assert format_amz_date(datetime(2023, 12, 31, 20, 0, 0, tzinfo=west)) == "20240101T040000Z"


def test_format_amz_date_rejects_naive_datetime():
    with pytest.raises(ValueError):
        format_amz_date(datetime(2018, 10, 13, 0, 41, 2))


@pytest.mark.parametrize("value", ["20181013T004102Z", "2018-10-13T00:41:02Z"])
def test_parse_amz_date_both_sdk_forms(value):
    parsed = parse_amz_date(value)
    assert parsed == datetime(2018, 10, 13, 0, 41, 2, tzinfo=timezone.utc)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value", ["", "2018-10-13 00:41:02", "20181013T004102", "2018-10-13T00:41:02", "20181332T004102Z", "yesterday"]
)
def test_parse_amz_date_rejects_other_forms(value):
    with pytest.raises(ValueError):
        parse_amz_date(value)


# --- key loading ----------------------------------------------------------------------------


def _pem(key, fmt=serialization.PrivateFormat.PKCS8, encryption=None) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()).decode(
        "ascii"
    )


def test_load_private_key_from_str_and_bytes(private_key_pem, rsa_private_key):
    key = load_private_key(private_key_pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == rsa_private_key.private_numbers()
    assert load_private_key(private_key_pem.encode()).private_numbers() == rsa_private_key.private_numbers()


def test_load_private_key_traditional_openssl_format(rsa_private_key):
    pem = _pem(rsa_private_key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert load_private_key(pem).private_numbers() == rsa_private_key.private_numbers()


def test_load_private_key_encrypted_with_passphrase(rsa_private_key):
    pem = _pem(rsa_private_key, encryption=serialization.BestAvailableEncryption(b"correct horse"))
    assert "ENCRYPTED" in pem
    assert load_private_key(pem, "correct horse").private_numbers() == rsa_private_key.private_numbers()
    assert load_private_key(pem, b"correct horse").private_numbers() == rsa_private_key.private_numbers()
    with pytest.raises(ValueError):
        load_private_key(pem, "wrong horse")
    with pytest.raises(TypeError):
        load_private_key(pem)


def test_load_private_key_rejects_non_rsa_keys():
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="RSA"):
        load_private_key(ec_pem)
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="RSA"):
        load_public_key(ec_public)


def test_load_private_key_rejects_garbage():
    with pytest.raises(ValueError):
        load_private_key("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")


def test_load_public_key(public_key_pem, public_key):
    assert load_public_key(public_key_pem).public_numbers() == public_key.public_numbers()
    assert load_public_key(public_key_pem.encode()).public_numbers() == public_key.public_numbers()


def test_private_key_is_parsed_once(monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = _pem(key)
    calls = []
    real = serialization.load_pem_private_key

    def counting(data, password=None, **kwargs):
        calls.append(data)
        return real(data, password=password, **kwargs)

    monkeypatch.setattr(signing.serialization, "load_pem_private_key", counting)
    first = load_private_key(pem)
    second = load_private_key(pem)
    third = load_private_key("\n  " + pem + "\n\n")  # surrounding whitespace: same key text
    fourth = load_private_key(pem.encode())
    assert first is second is third is fourth
    assert len(calls) == 1
