"""SNS / Amazon Pay IPN verification (saleor_amazonpay.core.ipn).

Envelopes come from the emulator's pure SNS functions (build_envelope, sign_envelope,
ipn_message). The certificate is served by a fake ``fetch`` under an AWS-shaped
``https://sns.<region>.amazonaws.com/...pem`` URL, so the production https/host path runs
with no network access.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from saleor_amazonpay.core import ConfigError, IpnVerificationError
from saleor_amazonpay.core import ipn as ipn_module
from saleor_amazonpay.core.ipn import (
    InMemoryReplayCache,
    IpnNotification,
    IpnNotificationType,
    IpnObjectType,
    SnsEnvelope,
    SnsVerifier,
    fetch_certificate,
    parse_envelope,
    parse_notification,
)
from saleor_amazonpay.emulator.clock import iso_millis
from saleor_amazonpay.emulator.sns import (
    SigningIdentity,
    build_envelope,
    default_identity,
    http_headers,
    ipn_message,
    sign_envelope,
    string_to_sign,
)

pytestmark = pytest.mark.unit

NOW = datetime(2024, 1, 5, 13, 14, 15, 655000, tzinfo=timezone.utc)
AWS_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"
TOPIC = "arn:aws:sns:us-east-1:000000000000:AmazonPay-A1B2C3D4E5F6G7-sandbox"
OTHER_TOPIC = "arn:aws:sns:us-east-1:000000000000:AmazonPay-A1B2C3D4E5F6G7-live"
EMULATOR_CERT_URL = "http://127.0.0.1:8765/_emulator/sns-cert.pem"
MERCHANT = "A1B2C3D4E5F6G7"
CHARGE_PERMISSION = "S01-1234567-7654321"
CHARGE = "S01-1234567-7654321-C0000001"


# -- helpers ------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeFetch:
    """Serves certificate PEMs by URL and counts the calls."""

    def __init__(self, certificates: "dict[str, str | bytes] | None" = None, delay: float = 0.0) -> None:
        self.certificates = dict(certificates or {})
        self.calls: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bytes:
        with self._lock:
            self.calls.append(url)
        if self.delay:
            time.sleep(self.delay)
        if url not in self.certificates:
            raise ConnectionError(f"no route to {url}")
        pem = self.certificates[url]
        return pem.encode("ascii") if isinstance(pem, str) else pem


def make_identity(common_name: str = "sns.amazonaws.com", *, not_before: "datetime | None" = None,
                  not_after: "datetime | None" = None, key_size: int = 2048) -> SigningIdentity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    identity = default_identity()
    assert identity.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sns.amazonaws.com"
    return identity


@pytest.fixture(scope="module")
def other_identity() -> SigningIdentity:
    return make_identity()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fetch(identity) -> FakeFetch:
    return FakeFetch({AWS_CERT_URL: identity.certificate_pem})


@pytest.fixture
def verifier(fetch, clock) -> SnsVerifier:
    return SnsVerifier([TOPIC, OTHER_TOPIC], fetch=fetch, clock=clock)


def notification(identity: "SigningIdentity | None" = None, *, version: str = "1", message: "dict | str | None" = None,
                 cert_url: str = AWS_CERT_URL, topic: str = TOPIC, timestamp: datetime = NOW,
                 message_id: "str | None" = None, subject: "str | None" = None) -> dict:
    if message is None:
        message = ipn_message(merchant_id=MERCHANT, object_type="CHARGE", object_id=CHARGE,
                              charge_permission_id=CHARGE_PERMISSION)
    return build_envelope(message, identity=identity or default_identity(), topic_arn=topic,
                          signing_cert_url=cert_url, signature_version=version, message_id=message_id,
                          timestamp=timestamp, subject=subject)


def confirmation(identity: "SigningIdentity | None" = None, *, kind: str = "SubscriptionConfirmation",
                 version: str = "1", subscribe_url: "str | None" = None, cert_url: str = AWS_CERT_URL,
                 topic: str = TOPIC, token: str = "2336412f37fb687f5d51e6e2425ba1f2") -> dict:
    envelope = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm, visit the SubscribeURL.",
        "SubscribeURL": subscribe_url or (
            f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"),
        "Timestamp": iso_millis(NOW),
    }
    sign_envelope(envelope, identity or default_identity(), version)
    envelope["SigningCertURL"] = cert_url
    return envelope


def body(envelope: dict) -> bytes:
    return json.dumps(envelope, indent=2).encode("utf-8")


def parse(envelope: dict, headers=None) -> SnsEnvelope:
    return parse_envelope(body(envelope), headers)


def reason(excinfo) -> str:
    return excinfo.value.reason_code


# -- valid messages -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_notification_verifies(verifier, identity, version):
    envelope = notification(identity, version=version)
    parsed = parse(envelope, http_headers(envelope))
    assert verifier.verify(parsed) is parsed
    assert parsed.type == "Notification" and parsed.signature_version == version
    assert parsed.topic_arn == TOPIC and parsed.timestamp == NOW
    assert parsed.signing_cert_url == AWS_CERT_URL and parsed.unsubscribe_url
    assert parsed.subject is None and parsed.token is None and parsed.subscribe_url is None

    note = parse_notification(parsed)
    assert note == IpnNotification(
        merchant_id=MERCHANT, object_type=IpnObjectType.CHARGE, object_id=CHARGE,
        charge_permission_id=CHARGE_PERMISSION, notification_type=IpnNotificationType.STATE_CHANGE,
        notification_id=note.notification_id, notification_version="V2",
    )
    assert note.raw["MerchantID"] == MERCHANT


@pytest.mark.parametrize("version", ["1", "2"])
def test_verify_request_parses_and_verifies(verifier, identity, version):
    envelope = notification(identity, version=version)
    assert verifier.verify_request(body(envelope).decode("utf-8"), http_headers(envelope)).message_id == \
        envelope["MessageId"]


def test_verify_wants_a_parsed_envelope(verifier, identity):
    with pytest.raises(TypeError):
        verifier.verify(notification(identity))  # type: ignore[arg-type]


@pytest.mark.parametrize("subject", [None, "Amazon Pay notification", ""])
def test_canonical_string_matches_the_emulator(identity, subject):
    envelope = notification(identity, subject=subject)
    assert parse(envelope).string_to_sign() == string_to_sign(envelope)


def test_subject_is_signed(verifier, identity):
    envelope = notification(identity, subject="hello")
    verifier.verify(parse(envelope))
    for tampered in (dict(envelope, Subject="bye"), {k: v for k, v in envelope.items() if k != "Subject"}):
        tampered["MessageId"] = envelope["MessageId"]
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(parse(tampered))
        assert reason(excinfo) == "InvalidSignature"


def test_string_to_sign_without_raw_timestamp_uses_sns_format(identity):
    parsed = parse(notification(identity))
    rebuilt = SnsEnvelope(type=parsed.type, message_id=parsed.message_id, topic_arn=parsed.topic_arn,
                          message=parsed.message, timestamp=parsed.timestamp,
                          signature_version=parsed.signature_version, signature=parsed.signature,
                          signing_cert_url=parsed.signing_cert_url)
    assert rebuilt.string_to_sign() == parsed.string_to_sign()


def test_china_region_host_is_accepted(identity, clock):
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-xyz.pem"
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({url: identity.certificate_pem}), clock=clock)
    verifier.verify(parse(notification(identity, cert_url=url)))


# -- tampering and signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("field, value", [
    ("Message", json.dumps(ipn_message(merchant_id=MERCHANT, object_type="REFUND", object_id=CHARGE,
                                       charge_permission_id=CHARGE_PERMISSION, notification_id="n1"))),
    ("Timestamp", iso_millis(NOW + timedelta(milliseconds=1))),
    ("TopicArn", OTHER_TOPIC),
    ("MessageId", str(uuid.uuid4())),
])
def test_tampered_fields_fail(verifier, identity, version, field, value):
    envelope = dict(notification(identity, version=version), **{field: value})
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(envelope))
    assert reason(excinfo) == "InvalidSignature"


def test_tampered_type_fails(verifier, identity):
    # Notification -> confirmation changes the field set; parse refuses the missing fields.
    with pytest.raises(IpnVerificationError) as excinfo:
        parse(dict(notification(identity), Type="SubscriptionConfirmation"))
    assert reason(excinfo) == "MalformedMessage"
    # Same field set, different Type: only the signature can tell.
    envelope = dict(confirmation(identity), Type="UnsubscribeConfirmation")
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(envelope))
    assert reason(excinfo) == "InvalidSignature"


def test_signature_from_another_key_fails(verifier, other_identity):
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(other_identity)))
    assert reason(excinfo) == "InvalidSignature"


@pytest.mark.parametrize("version", ["0", "3", "1.0", " 1", "SHA256", "v2"])
def test_unknown_signature_version_is_rejected(verifier, identity, fetch, version):
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(dict(notification(identity), SignatureVersion=version)))
    assert reason(excinfo) == "InvalidSignature"
    assert fetch.calls == []


def test_signature_version_swapped_fails(verifier, identity):
    for signed, claimed in (("1", "2"), ("2", "1")):
        envelope = dict(notification(identity, version=signed), SignatureVersion=claimed)
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(parse(envelope))
        assert reason(excinfo) == "InvalidSignature"


@pytest.mark.parametrize("signature", ["not base64!!", "QUJD", "A" * 3000, base64.b64encode(b"\0" * 256).decode()])
def test_garbage_signatures_fail(verifier, identity, signature):
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(dict(notification(identity), Signature=signature)))
    assert reason(excinfo) == "InvalidSignature"


# -- the certificate URL --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "ftp://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "//sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
    "https://evil.com/sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com.cn.evil.com/x.pem",
    "https://evilsns.us-east-1.amazonaws.com/x.pem",
    "https://sns.amazonaws.com/x.pem",
    "https://sns.us-east-1.evil.amazonaws.com.evil/x.pem",
    "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com./x.pem",
    "https://user@sns.us-east-1.amazonaws.com/x.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
    "https://evil.com#@sns.us-east-1.amazonaws.com/x.pem",
    "https://evil.com?@sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com:443/x.pem",
    "https://sns.us-east-1.amazonaws.com:8443/x.pem",
    "https://sns.us-east-1.amazonaws.com:/x.pem",
    "https://sns.us-east-1.amazonaws.com%2eevil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com\u3002evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com\n/x.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem\n",
    " https://sns.us-east-1.amazonaws.com/x.pem",
    "https://[::1]/x.pem",
    "https://127.0.0.1/x.pem",
    "https://sns.us-east-1.amazonaws.com/x.txt",
    "https://sns.us-east-1.amazonaws.com/x.pem.txt",
    "https://sns.us-east-1.amazonaws.com/",
    "https://sns.us-east-1.amazonaws.com",
    "https://sns.us-east-1.amazonaws.com/x.pem?x=1",
    "https://sns.us-east-1.amazonaws.com/x.pem?",
    "https://sns.us-east-1.amazonaws.com/x.pem#frag",
    "https://sns.us-east-1.amazonaws.com/../x.pem",
    "https://sns.us-east-1.amazonaws.com//evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/%2e%2e/x.pem",
    "https:///x.pem",
    "",
    EMULATOR_CERT_URL,
])
def test_untrusted_certificate_urls_are_never_fetched(identity, clock, url):
    fetch = FakeFetch({url: identity.certificate_pem})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    envelope = notification(identity)
    envelope["SigningCertURL"] = url  # not covered by the signature: an attacker can set it freely
    if not url:
        with pytest.raises(IpnVerificationError) as excinfo:
            parse(envelope)
        assert reason(excinfo) == "MalformedMessage"
        return
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(envelope))
    assert reason(excinfo) == "UntrustedCertificate"
    assert fetch.calls == []


def test_custom_cert_host_pattern(identity, clock):
    url = "https://sns.example.internal/cert.pem"
    fetch = FakeFetch({url: identity.certificate_pem})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock, cert_host_pattern=r"^sns\.example\.internal$")
    verifier.verify(parse(notification(identity, cert_url=url)))
    with pytest.raises(IpnVerificationError):
        verifier.verify(parse(notification(identity)))  # the AWS host no longer matches
    with pytest.raises(ConfigError):
        SnsVerifier([TOPIC], cert_host_pattern="(")


# -- fetching and caching certificates ----------------------------------------------------------------


def test_certificate_is_fetched_once_for_many_messages(verifier, identity, fetch):
    for i in range(25):
        verifier.verify(parse(notification(identity, version="1" if i % 2 else "2")))
    assert fetch.calls == [AWS_CERT_URL]
    assert verifier.cached_certificate_urls == [AWS_CERT_URL]


def test_concurrent_first_deliveries_fetch_once(identity, clock):
    fetch = FakeFetch({AWS_CERT_URL: identity.certificate_pem}, delay=0.05)
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    envelopes = [parse(notification(identity)) for _ in range(8)]
    errors: list = []

    def run(envelope):
        try:
            verifier.verify(envelope)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in envelopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and fetch.calls == [AWS_CERT_URL]


def test_certificate_cache_is_bounded(identity, clock):
    urls = [f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{i}.pem" for i in range(3)]
    fetch = FakeFetch({u: identity.certificate_pem for u in urls})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock, cert_cache_size=2)
    for url in urls + urls[-1:]:
        verifier.verify(parse(notification(identity, cert_url=url)))
    assert verifier.cached_certificate_urls == urls[1:]
    assert fetch.calls == urls
    verifier.verify(parse(notification(identity, cert_url=urls[0])))  # evicted: fetched again
    assert fetch.calls == urls + urls[:1]
    with pytest.raises(ConfigError):
        SnsVerifier([TOPIC], cert_cache_size=0)


def test_fetch_failure_is_retryable_and_not_cached(identity, clock):
    fetch = FakeFetch({})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    envelope = parse(notification(identity))
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(envelope)
    assert reason(excinfo) == "CertificateUnavailable" and excinfo.value.should_retry
    assert verifier.cached_certificate_urls == []
    # The failed message did not reach the replay cache: SNS's redelivery is accepted.
    fetch.certificates[AWS_CERT_URL] = identity.certificate_pem
    verifier.verify(envelope)
    assert fetch.calls == [AWS_CERT_URL, AWS_CERT_URL]


@pytest.mark.parametrize("payload", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                     b"x" * (64 * 1024 + 1), "\u00e9", 42])
def test_fetched_garbage_is_untrusted(identity, clock, payload):
    verifier = SnsVerifier([TOPIC], fetch=lambda url: payload, clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(identity)))
    assert reason(excinfo) == "UntrustedCertificate"
    assert verifier.cached_certificate_urls == []


def test_expired_certificate_is_rejected(clock):
    expired = make_identity(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(seconds=1))
    fetch = FakeFetch({AWS_CERT_URL: expired.certificate_pem})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(expired)))
    assert reason(excinfo) == "UntrustedCertificate" and "expired" in str(excinfo.value)
    assert verifier.cached_certificate_urls == []


def test_not_yet_valid_certificate_is_rejected(clock):
    future = make_identity(not_before=NOW + timedelta(hours=1), not_after=NOW + timedelta(days=10))
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({AWS_CERT_URL: future.certificate_pem}), clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(future)))
    assert reason(excinfo) == "UntrustedCertificate"


def test_cached_certificate_that_expires_is_fetched_again_and_rejected(clock):
    short = make_identity(not_after=NOW + timedelta(hours=2))
    fetch = FakeFetch({AWS_CERT_URL: short.certificate_pem})
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    verifier.verify(parse(notification(short)))
    clock.now = NOW + timedelta(hours=3)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(short, timestamp=clock.now)))
    assert reason(excinfo) == "UntrustedCertificate"
    assert fetch.calls == [AWS_CERT_URL, AWS_CERT_URL]
    assert verifier.cached_certificate_urls == []


@pytest.mark.parametrize("common_name", ["evil.example.com", "sns.amazonaws.com.evil.com", "amazonaws.com",
                                         "notamazonaws.com"])
def test_certificate_must_be_issued_to_amazonaws(clock, common_name):
    rogue = make_identity(common_name)
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({AWS_CERT_URL: rogue.certificate_pem}), clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(rogue)))
    assert reason(excinfo) == "UntrustedCertificate"


@pytest.mark.parametrize("common_name", ["sns.amazonaws.com", "sns.us-east-1.amazonaws.com",
                                         "sns.cn-north-1.amazonaws.com.cn"])
def test_amazonaws_common_names_are_accepted(clock, common_name):
    good = make_identity(common_name)
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({AWS_CERT_URL: good.certificate_pem}), clock=clock)
    verifier.verify(parse(notification(good)))


def test_weak_or_non_rsa_keys_are_untrusted(clock):
    weak = make_identity(key_size=1024)
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({AWS_CERT_URL: weak.certificate_pem}), clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(weak)))
    assert reason(excinfo) == "UntrustedCertificate"

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    verifier = SnsVerifier([TOPIC], fetch=FakeFetch({AWS_CERT_URL: pem}), clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification()))
    assert reason(excinfo) == "UntrustedCertificate"


# -- the default fetcher (real HTTP on loopback) -----------------------------------------------------------


class _CertHandler(http.server.BaseHTTPRequestHandler):
    pem = b""
    hits: list = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        if self.path == "/redirect.pem":
            self.send_response(302)
            self.send_header("Location", "/cert.pem")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/cert.pem":
            self._send(200, self.pem)
        elif self.path == "/huge.pem":
            self._send(200, b"A" * (64 * 1024 + 10))
        else:
            self._send(404, b"nope")

    def _send(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def cert_server(identity, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = type("Handler", (_CertHandler,), {"pem": identity.certificate_pem.encode("ascii"), "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_default_fetch_downloads(cert_server, identity):
    base, _ = cert_server
    assert fetch_certificate(f"{base}/cert.pem") == identity.certificate_pem.encode("ascii")


def test_default_fetch_does_not_follow_redirects(cert_server):
    base, handler = cert_server
    with pytest.raises(IpnVerificationError) as excinfo:
        fetch_certificate(f"{base}/redirect.pem")
    assert reason(excinfo) == "CertificateUnavailable" and "302" in str(excinfo.value)
    assert handler.hits == ["/redirect.pem"]


def test_default_fetch_limits_size_and_status(cert_server):
    base, _ = cert_server
    with pytest.raises(IpnVerificationError) as excinfo:
        fetch_certificate(f"{base}/huge.pem")
    assert reason(excinfo) == "UntrustedCertificate"
    with pytest.raises(IpnVerificationError) as excinfo:
        fetch_certificate(f"{base}/missing.pem")
    assert reason(excinfo) == "CertificateUnavailable"


def test_default_fetch_connection_failure():
    with pytest.raises(IpnVerificationError) as excinfo:
        fetch_certificate("http://127.0.0.1:9/cert.pem", timeout=1)
    assert reason(excinfo) == "CertificateUnavailable"


def test_verifier_uses_the_safe_default_fetch(identity, clock, monkeypatch):
    seen: dict = {}

    class Response:
        status_code = 200
        headers = {"Content-Length": str(len(identity.certificate_pem))}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def iter_content(self, chunk_size):
            yield identity.certificate_pem.encode("ascii")

    def fake_get(url, **kwargs):
        seen["url"], seen["kwargs"] = url, kwargs
        return Response()

    monkeypatch.setattr(ipn_module.requests, "get", fake_get)
    SnsVerifier([TOPIC], clock=clock).verify(parse(notification(identity)))
    assert seen["url"] == AWS_CERT_URL
    assert seen["kwargs"]["allow_redirects"] is False and seen["kwargs"]["timeout"] == 5.0
    assert "verify" not in seen["kwargs"]  # TLS verification stays at requests' default (on)


# -- topics, freshness, replays ------------------------------------------------------------------------


def test_topic_not_allowed(verifier, identity, fetch):
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(identity, topic="arn:aws:sns:us-east-1:111111111111:Someone-else")))
    assert reason(excinfo) == "TopicNotAllowed"
    assert fetch.calls == []


def test_any_topic_when_not_configured(identity, fetch, clock):
    SnsVerifier(None, fetch=fetch, clock=clock).verify(
        parse(notification(identity, topic="arn:aws:sns:eu-west-1:111111111111:Anything")))


@pytest.mark.parametrize("topics", [[], "arn:aws:sns:us-east-1:000000000000:T"])
def test_allowed_topics_misconfigurations(topics):
    with pytest.raises(ConfigError):
        SnsVerifier(topics)


@pytest.mark.parametrize("offset, ok", [
    (timedelta(minutes=-59), True),
    (timedelta(hours=-1), True),
    (timedelta(hours=-1, seconds=-1), False),
    (timedelta(days=-30), False),
    (timedelta(minutes=4), True),
    (timedelta(minutes=5, seconds=1), False),
    (timedelta(days=365), False),
])
def test_freshness_window(verifier, identity, offset, ok):
    envelope = parse(notification(identity, timestamp=NOW + offset))
    if ok:
        verifier.verify(envelope)
    else:
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(envelope)
        assert reason(excinfo) == "StaleMessage"


def test_freshness_settings_and_naive_clock(identity, fetch):
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=lambda: NOW.replace(tzinfo=None),
                           max_age=timedelta(minutes=10), max_skew=timedelta(0))
    verifier.verify(parse(notification(identity, timestamp=NOW - timedelta(minutes=9))))
    for offset in (timedelta(minutes=-11), timedelta(seconds=1)):
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(parse(notification(identity, timestamp=NOW + offset)))
        assert reason(excinfo) == "StaleMessage"
    with pytest.raises(ConfigError):
        SnsVerifier([TOPIC], max_age=timedelta(0))
    with pytest.raises(ConfigError):
        SnsVerifier([TOPIC], max_skew=timedelta(seconds=-1))


def test_replay_of_the_same_message_is_rejected(verifier, identity):
    raw = body(notification(identity))
    verifier.verify(parse_envelope(raw))
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse_envelope(raw))
    assert reason(excinfo) == "Replayed"


def test_forged_message_does_not_poison_the_replay_cache(verifier, identity, other_identity):
    message_id = str(uuid.uuid4())
    forged = notification(other_identity, message_id=message_id)
    for _ in range(3):
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(parse(forged))
        assert reason(excinfo) == "InvalidSignature"
    genuine = notification(identity, message_id=message_id)
    verifier.verify(parse(genuine))
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(genuine))
    assert reason(excinfo) == "Replayed"


def test_rejected_stale_or_foreign_messages_do_not_mark_ids(verifier, identity):
    message_id = str(uuid.uuid4())
    with pytest.raises(IpnVerificationError):
        verifier.verify(parse(notification(identity, message_id=message_id, timestamp=NOW - timedelta(hours=2))))
    with pytest.raises(IpnVerificationError):
        verifier.verify(parse(notification(identity, message_id=message_id,
                                           topic="arn:aws:sns:us-east-1:111111111111:x")))
    verifier.verify(parse(notification(identity, message_id=message_id)))


def test_forget_allows_sns_redelivery(verifier, identity):
    envelope = parse(notification(identity))
    verifier.verify(envelope)
    verifier.forget(envelope.message_id)  # the handler failed and answered 500
    verifier.verify(envelope)
    with pytest.raises(IpnVerificationError):
        verifier.verify(envelope)


def test_replay_window_expires_with_the_cache(identity, fetch, clock):
    verifier = SnsVerifier([TOPIC], fetch=fetch, clock=clock)
    envelope = parse(notification(identity, timestamp=NOW))
    verifier.verify(envelope)
    clock.now = NOW + timedelta(minutes=59)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(envelope)
    assert reason(excinfo) == "Replayed"
    clock.now = NOW + timedelta(hours=2)  # the message itself is stale by now
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(envelope)
    assert reason(excinfo) == "StaleMessage"


def test_pluggable_replay_cache(identity, fetch, clock):
    class SharedCache:
        def __init__(self):
            self.ids: set = set()
            self.calls: list = []

        def seen(self, message_id):
            self.calls.append(message_id)
            if message_id in self.ids:
                return True
            self.ids.add(message_id)
            return False

    shared = SharedCache()
    a = SnsVerifier([TOPIC], fetch=fetch, clock=clock, replay_cache=shared)
    b = SnsVerifier([TOPIC], fetch=fetch, clock=clock, replay_cache=shared)
    envelope = parse(notification(identity))
    a.verify(envelope)
    with pytest.raises(IpnVerificationError) as excinfo:
        b.verify(envelope)
    assert reason(excinfo) == "Replayed"
    b.forget(envelope.message_id)  # no forget() on this cache: a no-op
    assert shared.calls == [envelope.message_id] * 2


def test_in_memory_replay_cache_ttl_and_bound():
    clock = Clock()
    cache = InMemoryReplayCache(timedelta(minutes=10), max_entries=3, clock=clock)
    assert cache.seen("a") is False and cache.seen("a") is True
    clock.now = NOW + timedelta(minutes=10, seconds=1)
    assert cache.seen("a") is False  # expired, recorded again
    for key in "bcd":
        assert cache.seen(key) is False
    assert len(cache) == 3
    assert cache.seen("a") is False  # evicted by the LRU bound
    cache.forget("d")
    assert cache.seen("d") is False
    with pytest.raises(ConfigError):
        InMemoryReplayCache(timedelta(0))
    with pytest.raises(ConfigError):
        InMemoryReplayCache(max_entries=0)


def test_default_replay_cache_covers_the_whole_window():
    verifier = SnsVerifier([TOPIC], max_age=timedelta(hours=4), max_skew=timedelta(minutes=5))
    assert isinstance(verifier.replay_cache, InMemoryReplayCache)
    assert verifier.replay_cache.ttl >= timedelta(hours=4, minutes=5)


# -- parse_envelope: headers and hostile bodies --------------------------------------------------------


def test_emulator_headers_are_accepted_in_any_casing(identity):
    envelope = notification(identity)
    headers = http_headers(envelope)
    parse(envelope, {k.upper(): v for k, v in headers.items()})
    parse(envelope, {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_TOPIC_ARN": TOPIC})
    parse(envelope, {})
    parse(envelope, None)


@pytest.mark.parametrize("header, value", [
    ("x-amz-sns-message-type", "SubscriptionConfirmation"),
    ("x-amz-sns-topic-arn", OTHER_TOPIC),
    ("x-amz-sns-message-id", str(uuid.uuid4())),
    ("X-Amz-Sns-Message-Type", "notification"),
    ("HTTP_X_AMZ_SNS_TOPIC_ARN", OTHER_TOPIC),
])
def test_header_body_mismatch_is_rejected(identity, header, value):
    envelope = notification(identity)
    headers = {k: v for k, v in http_headers(envelope).items() if k.lower() != header.lower()}
    headers[header] = value
    with pytest.raises(IpnVerificationError) as excinfo:
        parse(envelope, headers)
    assert reason(excinfo) == "MalformedMessage"


def test_non_string_header_is_rejected(identity):
    with pytest.raises(IpnVerificationError):
        parse(notification(identity), {"x-amz-sns-topic-arn": [TOPIC]})


def test_oversized_body_is_rejected(identity):
    envelope = notification(identity, message={"pad": "x" * (256 * 1024)})
    for raw in (body(envelope), body(envelope).decode("utf-8")):
        with pytest.raises(IpnVerificationError) as excinfo:
            parse_envelope(raw)
        assert reason(excinfo) == "MalformedMessage" and "larger" in str(excinfo.value)


@pytest.mark.parametrize("raw", [
    b"", b"   ", b"not json", b"[]", b"null", b"42", b'"Notification"', b"{", b"\xff\xfe{}",
    "{\"Type\": \"Notification\"}\ud800", b"[" * 100_000 + b"]" * 100_000,
    b'{"Type": NaN}', b'{"Type": Infinity}',
])
def test_malformed_bodies_are_rejected(raw):
    with pytest.raises(IpnVerificationError) as excinfo:
        parse_envelope(raw)
    assert reason(excinfo) == "MalformedMessage"


def test_duplicate_keys_are_rejected(identity):
    text = body(notification(identity)).decode("utf-8")
    duplicated = text.replace('"Type": "Notification",', '"Type": "Notification", "Type": "Notification",', 1)
    assert duplicated != text
    with pytest.raises(IpnVerificationError) as excinfo:
        parse_envelope(duplicated)
    assert reason(excinfo) == "MalformedMessage"


def test_non_bytes_body_is_rejected():
    with pytest.raises(IpnVerificationError):
        parse_envelope(None)  # type: ignore[arg-type]
    with pytest.raises(IpnVerificationError):
        parse_envelope({"Type": "Notification"})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
                                   "Signature", "SigningCertURL"])
def test_missing_or_mistyped_fields_are_rejected(identity, field):
    envelope = notification(identity)
    for broken in ({k: v for k, v in envelope.items() if k != field}, dict(envelope, **{field: None}),
                   dict(envelope, **{field: 1}), dict(envelope, **{field: ["x"]}), dict(envelope, **{field: ""})):
        with pytest.raises(IpnVerificationError) as excinfo:
            parse(broken)
        assert reason(excinfo) == "MalformedMessage"


@pytest.mark.parametrize("field", ["SubscribeURL", "Token"])
def test_confirmations_need_subscribe_url_and_token(identity, field):
    envelope = confirmation(identity)
    with pytest.raises(IpnVerificationError) as excinfo:
        parse({k: v for k, v in envelope.items() if k != field})
    assert reason(excinfo) == "MalformedMessage"


@pytest.mark.parametrize("value", ["Notification ", "notification", "SubscriptionConfirmed", "Unknown", ""])
def test_unknown_type_is_rejected(identity, value):
    with pytest.raises(IpnVerificationError) as excinfo:
        parse(dict(notification(identity), Type=value))
    assert reason(excinfo) == "MalformedMessage"


@pytest.mark.parametrize("field, value", [
    ("MessageId", "id with spaces"), ("MessageId", "x" * 129), ("MessageId", "id\nforged log line"),
    ("TopicArn", "not-an-arn"), ("TopicArn", "arn:aws:sns:us-east-1:000000000000:topic\nx"),
    ("TopicArn", "arn:aws:s3:::bucket"),
    ("Timestamp", "yesterday"), ("Timestamp", "2024-01-05 13:14:15Z"), ("Timestamp", "2024-01-05T13:14:15"),
    ("Timestamp", "2024-13-05T13:14:15.000Z"), ("Timestamp", "2024-01-05T13:14:15.000Z\n"),
    ("Timestamp", "2024-01-05T13:14:15.000+25:00"),
    ("Subject", 7), ("UnsubscribeURL", {"x": 1}),
])
def test_invalid_field_values_are_rejected(identity, field, value):
    with pytest.raises(IpnVerificationError) as excinfo:
        parse(dict(notification(identity), **{field: value}))
    assert reason(excinfo) == "MalformedMessage"


def test_timestamp_with_offset_is_normalised(identity):
    parsed = parse(dict(notification(identity), Timestamp="2024-01-05T14:14:15.655123+01:00"))
    assert parsed.timestamp == NOW.replace(microsecond=655123) and parsed.timestamp.tzinfo == timezone.utc
    assert parsed.timestamp_text == "2024-01-05T14:14:15.655123+01:00"


def test_unknown_extra_fields_are_ignored(verifier, identity):
    verifier.verify(parse(dict(notification(identity), MessageAttributes={"a": {"Type": "String"}})))


# -- subscription confirmation ---------------------------------------------------------------------------


def test_subscription_confirmation_canonical_string(identity):
    envelope = confirmation(identity, token="tok123",
                            subscribe_url="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok123")
    parsed = parse(envelope)
    assert parsed.string_to_sign() == (
        f"Message\n{envelope['Message']}\n"
        f"MessageId\n{envelope['MessageId']}\n"
        "SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok123\n"
        f"Timestamp\n{iso_millis(NOW)}\n"
        "Token\ntok123\n"
        f"TopicArn\n{TOPIC}\n"
        f"Type\nSubscriptionConfirmation\n"
    )
    assert parsed.string_to_sign() == string_to_sign(envelope)


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
@pytest.mark.parametrize("version", ["1", "2"])
def test_confirmations_verify(verifier, identity, kind, version):
    parsed = parse(confirmation(identity, kind=kind, version=version))
    verifier.verify(parsed)
    assert parsed.type == kind and parsed.token and parsed.subscribe_url


@pytest.mark.parametrize("field", ["SubscribeURL", "Token"])
def test_confirmation_fields_are_signed(verifier, identity, field):
    envelope = confirmation(identity)
    envelope[field] = envelope[field] + "x"
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(envelope))
    assert reason(excinfo) == "InvalidSignature"


def test_confirm_subscription_visits_the_sns_url(verifier, identity):
    parsed = verifier.verify(parse(confirmation(identity)))
    visited: list = []
    assert verifier.confirm_subscription(parsed, fetch=lambda url: visited.append(url) or 200) is True
    assert visited == [parsed.subscribe_url]
    assert verifier.confirm_subscription(parsed, fetch=lambda url: 403) is False

    class Response:
        status_code = 200

    assert verifier.confirm_subscription(parsed, fetch=lambda url: Response()) is True

    def broken(url):
        raise ConnectionError("down")

    assert verifier.confirm_subscription(parsed, fetch=broken) is False


def test_confirm_subscription_default_visitor(verifier, identity, monkeypatch):
    seen: dict = {}

    class Response:
        status_code = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_get(url, **kwargs):
        seen.update(url=url, **kwargs)
        return Response()

    monkeypatch.setattr(ipn_module.requests, "get", fake_get)
    parsed = parse(confirmation(identity))
    assert verifier.confirm_subscription(parsed) is True
    assert seen["url"] == parsed.subscribe_url and seen["allow_redirects"] is False and seen["timeout"] == 5.0


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
    "https://evil.com/?Action=ConfirmSubscription&Token=t",
    "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
    "https://evil.com/sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
    "https://user@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
    "https://sns.us-east-1.amazonaws.com:444/?Action=ConfirmSubscription",
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:other",
    "http://127.0.0.1:8765/_emulator/sns/confirm?Token=t",
])
def test_confirm_subscription_refuses_untrusted_urls(verifier, identity, url):
    parsed = parse(confirmation(identity, subscribe_url=url))
    visited: list = []
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.confirm_subscription(parsed, fetch=lambda u: visited.append(u) or 200)
    assert reason(excinfo) == "UntrustedSubscribeURL"
    assert visited == []


def test_confirm_subscription_refuses_notifications_and_foreign_topics(verifier, identity):
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.confirm_subscription(parse(notification(identity)), fetch=lambda u: 200)
    assert reason(excinfo) == "MalformedMessage"
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.confirm_subscription(parse(confirmation(identity, kind="UnsubscribeConfirmation")),
                                      fetch=lambda u: 200)
    assert reason(excinfo) == "MalformedMessage"
    foreign = parse(confirmation(identity, topic="arn:aws:sns:us-east-1:111111111111:Other"))
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.confirm_subscription(foreign, fetch=lambda u: 200)
    assert reason(excinfo) == "TopicNotAllowed"


# -- the test-only trust of the emulator certificate ---------------------------------------------------


@pytest.fixture
def test_mode(identity, clock):
    fetch = FakeFetch({})
    return SnsVerifier([TOPIC], trusted_certificates={EMULATOR_CERT_URL: identity.certificate_pem},
                       fetch=fetch, clock=clock), fetch


def test_trusted_certificate_url_is_used_without_fetching(test_mode, identity):
    verifier, fetch = test_mode
    for version in ("1", "2"):
        verifier.verify(parse(notification(identity, version=version, cert_url=EMULATOR_CERT_URL)))
    assert fetch.calls == []


@pytest.mark.parametrize("url", [
    EMULATOR_CERT_URL + "?x=1",
    EMULATOR_CERT_URL + "#x",
    EMULATOR_CERT_URL.replace("8765", "8766"),
    EMULATOR_CERT_URL.replace("127.0.0.1", "localhost"),
    EMULATOR_CERT_URL.replace("http://", "https://"),
    EMULATOR_CERT_URL.replace("sns-cert.pem", "sns-cert2.pem"),
    EMULATOR_CERT_URL.upper(),
    "http://127.0.0.1:8765/_emulator/../_emulator/sns-cert.pem",
])
def test_trusted_certificate_only_for_the_exact_url(test_mode, identity, url):
    verifier, fetch = test_mode
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(identity, cert_url=url)))
    assert reason(excinfo) == "UntrustedCertificate"
    assert fetch.calls == []


def test_trusted_certificate_still_checks_the_signature(test_mode, other_identity):
    verifier, _ = test_mode
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(other_identity, cert_url=EMULATOR_CERT_URL)))
    assert reason(excinfo) == "InvalidSignature"


def test_trusted_certificate_skips_only_the_name_rule(clock):
    emulator_like = make_identity("Amazon Pay API emulator")
    verifier = SnsVerifier([TOPIC], trusted_certificates={EMULATOR_CERT_URL: emulator_like.certificate_pem},
                           fetch=FakeFetch({AWS_CERT_URL: emulator_like.certificate_pem}), clock=clock)
    verifier.verify(parse(notification(emulator_like, cert_url=EMULATOR_CERT_URL)))
    with pytest.raises(IpnVerificationError):  # the same certificate from an AWS URL must be issued to AWS
        verifier.verify(parse(notification(emulator_like)))
    expired = make_identity(not_before=NOW - timedelta(days=10), not_after=NOW - timedelta(days=1))
    verifier = SnsVerifier([TOPIC], trusted_certificates={EMULATOR_CERT_URL: expired.certificate_pem}, clock=clock)
    with pytest.raises(IpnVerificationError) as excinfo:
        verifier.verify(parse(notification(expired, cert_url=EMULATOR_CERT_URL)))
    assert reason(excinfo) == "UntrustedCertificate"


def test_trusted_origin_subscribe_url(test_mode, identity):
    verifier, _ = test_mode
    good = parse(confirmation(identity, cert_url=EMULATOR_CERT_URL,
                              subscribe_url="http://127.0.0.1:8765/_emulator/sns/confirm?Token=t"))
    verifier.verify(good)
    assert verifier.confirm_subscription(good, fetch=lambda u: 200) is True
    other_port = parse(confirmation(identity, cert_url=EMULATOR_CERT_URL,
                                    subscribe_url="http://127.0.0.1:9999/_emulator/sns/confirm?Token=t"))
    with pytest.raises(IpnVerificationError):
        verifier.confirm_subscription(other_port, fetch=lambda u: 200)


def test_trusted_certificates_must_be_certificates(caplog):
    with pytest.raises(ConfigError):
        SnsVerifier([TOPIC], trusted_certificates={EMULATOR_CERT_URL: "not a pem"})
    with caplog.at_level(logging.WARNING, logger="saleor_amazonpay.ipn"):
        SnsVerifier([TOPIC], trusted_certificates={EMULATOR_CERT_URL: default_identity().certificate_pem})
    assert "never do this in production" in caplog.text


def test_emulator_published_ipn_verifies_end_to_end():
    """The emulator's own dispatcher, on a clock pinned in the past, and a verifier sharing it."""
    from saleor_amazonpay.emulator.app import EmulatorApp
    from saleor_amazonpay.emulator.clock import Clock as EmulatorClock

    app = EmulatorApp(clock=EmulatorClock(NOW, frozen=True))
    app.public_url = "http://127.0.0.1:8765"
    message = ipn_message(merchant_id=MERCHANT, object_type="REFUND", object_id=CHARGE.replace("-C", "-R"),
                          charge_permission_id=CHARGE_PERMISSION)
    delivery = app.ipn.publish_message(MERCHANT, "sandbox", message)
    verifier = SnsVerifier([app.ipn.topic_arn(MERCHANT, "sandbox")],
                           trusted_certificates={app.ipn.signing_cert_url: app.ipn.certificate_pem},
                           clock=app.clock.now, fetch=FakeFetch({}))
    envelope = verifier.verify_request(delivery.body.encode("utf-8"), delivery.headers)
    note = parse_notification(envelope)
    assert note.object_type is IpnObjectType.REFUND and note.charge_permission_id == CHARGE_PERMISSION
    app.ipn.close()


# -- the inner Amazon Pay notification -----------------------------------------------------------------


def _inner(message) -> IpnNotification:
    return parse_notification(parse(notification(message=message)))


PASCAL = {"MerchantID": MERCHANT, "ObjectType": "CHARGE", "ObjectId": CHARGE, "ChargePermissionId": CHARGE_PERMISSION,
          "NotificationType": "STATE_CHANGE", "NotificationId": "0b6c1ee7-7e8d-4a54-9c85-9fd3a4a1e5c1",
          "NotificationVersion": "V2"}
CAMEL = {"merchantID": MERCHANT, "objectType": "CHARGE", "objectId": CHARGE, "chargePermissionId": CHARGE_PERMISSION,
         "notificationType": "STATE_CHANGE", "notificationId": "0b6c1ee7-7e8d-4a54-9c85-9fd3a4a1e5c1",
         "notificationVersion": "V2"}


@pytest.mark.parametrize("message", [
    PASCAL, CAMEL, {**{k: v for k, v in PASCAL.items() if k != "MerchantID"}, "merchantId": MERCHANT},
    {k.upper(): v for k, v in PASCAL.items()},
])
def test_inner_message_key_casings(message):
    note = _inner(message)
    assert (note.merchant_id, note.object_type, note.object_id, note.charge_permission_id) == \
        (MERCHANT, IpnObjectType.CHARGE, CHARGE, CHARGE_PERMISSION)
    assert note.notification_type is IpnNotificationType.STATE_CHANGE
    assert note.notification_id == PASCAL["NotificationId"] and note.notification_version == "V2"
    assert note.raw == message


@pytest.mark.parametrize("object_type", ["CHARGE_PERMISSION", "CHARGE", "REFUND", "CHARGEBACK"])
@pytest.mark.parametrize("notification_type", ["STATE_CHANGE", "ATTRIBUTE_CHANGE"])
def test_inner_object_and_notification_types(object_type, notification_type):
    note = _inner(dict(PASCAL, ObjectType=object_type, NotificationType=notification_type))
    assert note.object_type is IpnObjectType(object_type)
    assert note.notification_type is IpnNotificationType(notification_type)


def test_old_lower_camel_message_without_charge_permission():
    old = {"merchantID": MERCHANT, "objectType": "REFUND", "objectId": "S01-1234567-7654321-R0000001",
           "notificationType": "STATE_CHANGE", "notificationId": "n-1", "notificationVersion": "V1"}
    assert _inner(old).charge_permission_id is None
    cp = _inner(dict(old, objectType="CHARGE_PERMISSION", objectId=CHARGE_PERMISSION))
    assert cp.charge_permission_id == CHARGE_PERMISSION
    minimal = _inner({"MerchantID": MERCHANT, "ObjectType": "CHARGE", "ObjectId": CHARGE,
                      "NotificationType": "STATE_CHANGE"})
    assert minimal.notification_id is None and minimal.notification_version is None


@pytest.mark.parametrize("key", ["MerchantID", "ObjectType", "ObjectId", "ChargePermissionId", "NotificationId"])
@pytest.mark.parametrize("value", ["", "has space", "x" * 129, "../../etc", "S01-1\n2", "\u0410BC", 12, ["x"], {"a": 1}])
def test_inner_bad_ids_are_rejected(key, value):
    with pytest.raises(IpnVerificationError) as excinfo:
        _inner(dict(PASCAL, **{key: value}))
    assert reason(excinfo) == "MalformedMessage"


@pytest.mark.parametrize("message", [
    dict(PASCAL, ObjectType="CHECKOUT_SESSION"),
    dict(PASCAL, ObjectType="charge"),
    dict(PASCAL, NotificationType="DELETED"),
    dict(PASCAL, NotificationVersion="V 2"),
    {k: v for k, v in PASCAL.items() if k != "MerchantID"},
    {k: v for k, v in PASCAL.items() if k != "ObjectType"},
    {k: v for k, v in PASCAL.items() if k != "ObjectId"},
    {k: v for k, v in PASCAL.items() if k != "NotificationType"},
    dict(PASCAL, objectId="S01-1234567-7654321-C0000002"),  # two spellings of one key
    "not json",
    "[1, 2]",
    '{"MerchantID": "A", "MerchantID": "B"}',
])
def test_inner_malformed_messages(message):
    with pytest.raises(IpnVerificationError) as excinfo:
        _inner(message)
    assert reason(excinfo) == "MalformedMessage"


def test_parse_notification_refuses_confirmations(identity):
    with pytest.raises(IpnVerificationError) as excinfo:
        parse_notification(parse(confirmation(identity)))
    assert reason(excinfo) == "MalformedMessage"
    with pytest.raises(TypeError):
        parse_notification({"Message": "{}"})  # type: ignore[arg-type]


def test_notification_carries_no_state():
    fields = set(IpnNotification.__dataclass_fields__)
    assert fields == {"merchant_id", "object_type", "object_id", "charge_permission_id", "notification_type",
                      "notification_id", "notification_version", "raw"}
    with pytest.raises(AttributeError):
        _inner(PASCAL).object_id = "x"  # type: ignore[misc]


# -- no personal data in logs, reprs or errors -----------------------------------------------------------


def test_logs_and_reprs_carry_no_message_contents(verifier, identity, other_identity, caplog):
    secret = "S01-9999999-8888888-C4242424"
    good = parse(notification(identity, message=dict(PASCAL, ObjectId=secret), subject="secret-subject"))
    bad = parse(notification(other_identity, message=dict(PASCAL, ObjectId=secret)))
    with caplog.at_level(logging.DEBUG, logger="saleor_amazonpay.ipn"):
        verifier.verify(good)
        with pytest.raises(IpnVerificationError) as excinfo:
            verifier.verify(bad)
    assert good.message_id in caplog.text and bad.message_id in caplog.text
    for text in (caplog.text, repr(good), str(excinfo.value), repr(excinfo.value)):
        assert secret not in text and "secret-subject" not in text
    token = parse(confirmation(identity, token="tok-SECRET"))
    assert "tok-SECRET" not in repr(token)


def test_envelope_is_frozen(identity):
    parsed = parse(notification(identity))
    with pytest.raises(AttributeError):
        parsed.message = "x"  # type: ignore[misc]


# -- layering ----------------------------------------------------------------------------------------------


def test_importing_ipn_pulls_in_no_saleor_django_or_emulator():
    code = textwrap.dedent(
        """
        import sys
        import saleor_amazonpay.core.ipn
        from saleor_amazonpay.core import SnsVerifier, parse_envelope, parse_notification  # noqa: F401
        forbidden = ("django", "saleor", "graphene", "celery", "saleor_amazonpay.plugin",
                     "saleor_amazonpay.emulator")
        loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
        print(",".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
