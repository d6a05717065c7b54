"""SNS-shaped notification envelopes, signed like Amazon SNS signs them.

Pure functions (no I/O, no clock of their own), so a test of an IPN *verifier* can build
exactly the envelope the emulator would POST, and tamper with it.

Signing: RSA PKCS#1 v1.5 over the canonical string ``Key\\nValue\\n`` for Message,
MessageId, Subject (only if present), Timestamp, TopicArn, Type (Notification); SHA1 for
``SignatureVersion`` "1", SHA256 for "2". The certificate is a self-signed test
certificate (subject CN ``sns.amazonaws.com``): a verifier has to be told to trust the
emulator's ``SigningCertURL``, exactly as it should refuse it in production.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .clock import iso_millis

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
_VALID_FROM = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SigningIdentity:
    """The emulator's stand-in for the SNS signing certificate."""

    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))

    @classmethod
    def generate(cls, common_name: str = "sns.amazonaws.com") -> "SigningIdentity":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon Pay API emulator (TEST ONLY)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # Valid from a fixed past date, not "yesterday": the emulator clock may be pinned in
            # the past (Clock(start=...)), and a verifier sharing that clock must still accept it.
            .not_valid_before(_VALID_FROM)
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))

    @classmethod
    def load(cls, private_key_pem: "str | bytes", certificate_pem: str) -> "SigningIdentity":
        if isinstance(private_key_pem, str):
            private_key_pem = private_key_pem.encode("ascii")
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the SNS signing key must be RSA")
        return cls(key, certificate_pem)


@functools.lru_cache(maxsize=1)
def default_identity() -> SigningIdentity:
    """One test certificate per process: generating RSA keys per emulator would make every
    test pay for it."""
    return SigningIdentity.generate()


def string_to_sign(envelope: Mapping[str, Any]) -> str:
    """The canonical SNS string for ``envelope["Type"]``."""
    fields = _NOTIFICATION_FIELDS if envelope.get("Type") == "Notification" else _SUBSCRIPTION_FIELDS
    return "".join(f"{key}\n{envelope[key]}\n" for key in fields if envelope.get(key) is not None)


def sign_envelope(envelope: dict, identity: SigningIdentity, signature_version: str = "1") -> dict:
    version = str(signature_version)
    if version not in _HASHES:
        raise ValueError("SignatureVersion must be '1' (SHA1) or '2' (SHA256)")
    signature = identity.private_key.sign(
        string_to_sign(envelope).encode("utf-8"), padding.PKCS1v15(), _HASHES[version]()
    )
    envelope["SignatureVersion"] = version
    envelope["Signature"] = base64.b64encode(signature).decode("ascii")
    return envelope


def verify_envelope(envelope: Mapping[str, Any], certificate_pem: str) -> bool:
    """Check an envelope's signature with a certificate (what an IPN receiver does after
    fetching ``SigningCertURL``). For tests; production verifiers also check the URL."""
    version = str(envelope.get("SignatureVersion"))
    if version not in _HASHES:
        return False
    cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    try:
        cert.public_key().verify(  # type: ignore[union-attr, call-arg]
            base64.b64decode(envelope["Signature"]),
            string_to_sign(envelope).encode("utf-8"),
            padding.PKCS1v15(),  # type: ignore[arg-type]
            _HASHES[version](),  # type: ignore[arg-type]
        )
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True


def ipn_message(*, merchant_id: str, object_type: str, object_id: str, charge_permission_id: str,
                notification_type: str = "STATE_CHANGE", notification_id: "str | None" = None) -> dict:
    """The inner Amazon Pay IPN (notes §6), PascalCase keys as Amazon sends them today."""
    return {
        "MerchantID": merchant_id,
        "ObjectType": object_type,
        "ObjectId": object_id,
        "ChargePermissionId": charge_permission_id,
        "NotificationType": notification_type,
        "NotificationId": notification_id or str(uuid.uuid4()),
        "NotificationVersion": "V2",
    }


def build_envelope(
    message: "Mapping[str, Any] | str",
    *,
    identity: "SigningIdentity | None" = None,
    topic_arn: str = "arn:aws:sns:us-east-1:000000000000:AmazonPayEmulator",
    signing_cert_url: str = "http://127.0.0.1/_emulator/sns-cert.pem",
    unsubscribe_url: "str | None" = None,
    signature_version: str = "1",
    message_id: "str | None" = None,
    timestamp: "datetime | None" = None,
    subject: "str | None" = None,
) -> dict:
    """Build and sign an SNS ``Notification`` envelope; ``Message`` is a JSON *string*."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope["Message"] = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    envelope["Timestamp"] = iso_millis(timestamp or datetime.now(timezone.utc))
    sign_envelope(envelope, identity or default_identity(), signature_version)
    envelope["SigningCertURL"] = signing_cert_url
    envelope["UnsubscribeURL"] = unsubscribe_url or _unsubscribe_url(signing_cert_url, topic_arn)
    return envelope


def _subscription_arn(topic_arn: str) -> str:
    """The (stable, made-up) subscription ARN of the merchant endpoint on ``topic_arn``."""
    return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn)}"


def _unsubscribe_url(signing_cert_url: str, topic_arn: str) -> str:
    if "/_emulator/" in signing_cert_url:
        base = signing_cert_url.rsplit("/_emulator/", 1)[0]
        return f"{base}/_emulator/sns/unsubscribe?SubscriptionArn={_subscription_arn(topic_arn)}"
    # A certificate URL that is not the emulator's (e.g. an AWS-shaped one in a verifier
    # test): answer with AWS's own UnsubscribeURL shape on that host.
    parts = urlsplit(signing_cert_url)
    return f"{parts.scheme}://{parts.netloc}/?Action=Unsubscribe&SubscriptionArn={_subscription_arn(topic_arn)}"


def http_headers(envelope: Mapping[str, Any], subscription_arn: "str | None" = None) -> dict:
    """The headers SNS sends with an HTTP(S) notification."""
    topic = envelope["TopicArn"]
    return {
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": topic,
        "x-amz-sns-subscription-arn": subscription_arn or _subscription_arn(topic),
    }
