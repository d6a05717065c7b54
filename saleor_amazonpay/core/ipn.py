"""Verify Amazon Pay Instant Payment Notifications (IPNs) delivered by AWS SNS.

Amazon Pay publishes IPNs to an SNS topic. SNS POSTs each one to the merchant's endpoint
as a JSON *envelope*. The envelope's ``Message`` is itself a JSON string: the Amazon Pay
notification. This module is a small pipeline that assumes the input is hostile:

1. :func:`parse_envelope` reads the body. It rejects oversized, malformed or duplicate-key
   JSON, missing or mistyped fields, and unknown ``Type`` values. It also rejects
   ``x-amz-sns-*`` headers that disagree with the body. The result is a typed, frozen
   :class:`SnsEnvelope`.
2. :meth:`SnsVerifier.verify` does what AWS requires. It checks the topic against an allow
   list, checks that the message is fresh, and checks that ``SigningCertURL`` is an https
   URL on an SNS host. It fetches that certificate once and caches it, checks that it is a
   currently valid X.509 RSA certificate for ``*.amazonaws.com``, and verifies the RSA
   PKCS#1 v1.5 signature (SHA1 for ``SignatureVersion`` "1", SHA256 for "2") over the
   canonical string. Last, once the signature is known to be good, it rejects a
   ``MessageId`` it has already seen.
3. :func:`parse_notification` turns the inner ``Message`` into an :class:`IpnNotification`.
   This holds ids only. An IPN carries no state, and on purpose nothing here models one:
   callers must read the object again from the API.

Every failure is an :class:`~saleor_amazonpay.core.errors.IpnVerificationError`. Its
``reason_code`` is one of :data:`REASON_CODES`. Nothing here logs message contents.
Debug logs name only the message id, type and topic.

Tests can trust the emulator's self-signed certificate through
``SnsVerifier(trusted_certificates={url: pem})``. That trust applies to that exact URL
only. Production code must never fill in this mapping. See
docs/notifications-verification.md.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .errors import ConfigError, IpnVerificationError

logger = logging.getLogger("saleor_amazonpay.ipn")

# -- reason codes ---------------------------------------------------------------------------

MALFORMED_MESSAGE = "MalformedMessage"
INVALID_SIGNATURE = "InvalidSignature"
UNTRUSTED_CERTIFICATE = "UntrustedCertificate"
#: The certificate could not be fetched (network, HTTP status). This may be transient, so
#: the error has ``should_retry = True``. Answer non-2xx and SNS delivers the message again.
CERTIFICATE_UNAVAILABLE = "CertificateUnavailable"
TOPIC_NOT_ALLOWED = "TopicNotAllowed"
STALE_MESSAGE = "StaleMessage"
REPLAYED = "Replayed"
UNTRUSTED_SUBSCRIBE_URL = "UntrustedSubscribeURL"

REASON_CODES = frozenset({
    MALFORMED_MESSAGE, INVALID_SIGNATURE, UNTRUSTED_CERTIFICATE, CERTIFICATE_UNAVAILABLE,
    TOPIC_NOT_ALLOWED, STALE_MESSAGE, REPLAYED, UNTRUSTED_SUBSCRIBE_URL,
})

# -- limits and protocol constants ----------------------------------------------------------

#: Largest envelope accepted. SNS messages are at most 256 KiB; Amazon Pay IPNs are < 1 KiB.
MAX_BODY_BYTES = 256 * 1024
#: Largest certificate download accepted.
MAX_CERT_BYTES = 64 * 1024
#: Default timeout (seconds) for the certificate and SubscribeURL requests.
FETCH_TIMEOUT = 5.0
#: Default host rule for ``SigningCertURL`` and ``SubscribeURL``.
DEFAULT_CERT_HOST_PATTERN = r"^sns\.[a-z0-9\-]+\.amazonaws\.com(\.cn)?$"

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_MESSAGE_ID_RE = re.compile(r"[A-Za-z0-9\-]{1,128}")
_TOPIC_ARN_RE = re.compile(r"arn:[A-Za-z0-9\-]{1,32}:sns:[A-Za-z0-9\-]{0,64}:[0-9]{12}:[A-Za-z0-9_\-.]{1,256}")
_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_ID_RE = re.compile(r"[A-Za-z0-9\-]{1,128}")
_VERSION_RE = re.compile(r"[A-Za-z0-9.\-]{1,16}")
_PEM_PATH_RE = re.compile(r"/[A-Za-z0-9._~\-/]*\.pem")
_MAX_SIGNATURE_CHARS = 2048  # base64 of an 8192-bit RSA signature is 1368 characters
_MAX_URL_CHARS = 2048
_MIN_RSA_BITS = 2048


def _error(reason: str, message: str) -> IpnVerificationError:
    error = IpnVerificationError(message, reason_code=reason)
    if reason == CERTIFICATE_UNAVAILABLE:
        error.should_retry = True
    return error


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# -- strict JSON ------------------------------------------------------------------------------


def _no_duplicate_keys(pairs: "list[tuple[str, Any]]") -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            # Two parsers could pick different values. Refuse rather than guess.
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(text: str, what: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _error(MALFORMED_MESSAGE, f"the {what} is not valid JSON") from None


# -- the SNS envelope ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SnsEnvelope:
    """An SNS HTTP(S) message, parsed but not yet verified (see :meth:`SnsVerifier.verify`).

    ``message``, ``signature``, ``token`` and the URLs are hidden from ``repr``, so that
    logging an envelope cannot leak a notification or a subscription token.
    """

    type: str
    message_id: str
    topic_arn: str
    message: str = field(repr=False)
    timestamp: datetime
    signature_version: str
    signature: str = field(repr=False)
    signing_cert_url: str = field(repr=False)
    subscribe_url: "str | None" = field(default=None, repr=False)
    token: "str | None" = field(default=None, repr=False)
    unsubscribe_url: "str | None" = field(default=None, repr=False)
    subject: "str | None" = field(default=None, repr=False)
    #: ``Timestamp`` exactly as received. The signature covers this text, not the datetime.
    timestamp_text: "str | None" = field(default=None, repr=False, compare=False)

    @property
    def is_notification(self) -> bool:
        return self.type == NOTIFICATION

    def string_to_sign(self) -> str:
        """The canonical string AWS signs. For each field, in AWS's order, ``Key\\nValue\\n``.

        Notification: Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type.
        Subscription/Unsubscribe confirmation: Message, MessageId, SubscribeURL, Timestamp,
        Token, TopicArn, Type.
        """
        timestamp = self.timestamp_text
        if timestamp is None:
            moment = self.timestamp.astimezone(timezone.utc)
            timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        values = {
            "Message": self.message,
            "MessageId": self.message_id,
            "Subject": self.subject,
            "SubscribeURL": self.subscribe_url,
            "Timestamp": timestamp,
            "Token": self.token,
            "TopicArn": self.topic_arn,
            "Type": self.type,
        }
        fields = _NOTIFICATION_FIELDS if self.type == NOTIFICATION else _CONFIRMATION_FIELDS
        return "".join(f"{key}\n{values[key]}\n" for key in fields if values[key] is not None)


def _header(headers: "Mapping[str, Any] | None", name: str) -> "str | None":
    """Case-insensitive header lookup. Also accepts WSGI/Django ``META`` keys (``HTTP_X_AMZ_...``)."""
    if not headers:
        return None
    wanted = name.lower()
    meta = "HTTP_" + name.upper().replace("-", "_")
    found: "str | None" = None
    for key, value in headers.items():
        if isinstance(key, str) and (key.lower() == wanted or key == meta):
            if not isinstance(value, str):
                raise _error(MALFORMED_MESSAGE, f"header {name} is not a string")
            value = value.strip()
            if found is not None and found != value:
                raise _error(MALFORMED_MESSAGE, f"header {name} is sent twice with different values")
            found = value
    return found


def _parse_timestamp(text: str) -> datetime:
    match = _TIMESTAMP_RE.fullmatch(text)
    if not match:
        raise _error(MALFORMED_MESSAGE, "Timestamp is not an ISO 8601 UTC time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = timezone.utc
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            if offset >= timedelta(hours=24):
                raise ValueError("offset")
            tz = timezone(sign * offset)
        micro = int((fraction or "0").ljust(6, "0")[:6])
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz)
    except ValueError:
        raise _error(MALFORMED_MESSAGE, "Timestamp is not a valid time") from None
    return moment.astimezone(timezone.utc)


def _string_field(data: Mapping[str, Any], key: str, *, required: bool) -> "str | None":
    value = data.get(key)
    if value is None:
        if required:
            raise _error(MALFORMED_MESSAGE, f"the envelope has no {key}")
        return None
    if not isinstance(value, str):
        raise _error(MALFORMED_MESSAGE, f"{key} is not a string")
    if required and not value:
        raise _error(MALFORMED_MESSAGE, f"{key} is empty")
    return value


def parse_envelope(body: "bytes | str", headers: "Mapping[str, Any] | None" = None, *,
                   max_bytes: int = MAX_BODY_BYTES) -> SnsEnvelope:
    """Parse the body of an SNS POST into an :class:`SnsEnvelope`. Nothing is verified yet.

    ``headers`` is optional. A header that is present must agree with the body:
    ``x-amz-sns-message-type`` with ``Type``, ``x-amz-sns-topic-arn`` with ``TopicArn``,
    and ``x-amz-sns-message-id`` with ``MessageId``. Raises
    :class:`IpnVerificationError` ("MalformedMessage").
    """
    if isinstance(body, str):
        if len(body) > max_bytes:
            raise _error(MALFORMED_MESSAGE, f"the body is larger than {max_bytes} bytes")
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise _error(MALFORMED_MESSAGE, "the body is not valid UTF-8") from None
    elif isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
    else:
        raise _error(MALFORMED_MESSAGE, "the body must be bytes or str")
    if len(raw) > max_bytes:
        raise _error(MALFORMED_MESSAGE, f"the body is larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(MALFORMED_MESSAGE, "the body is not valid UTF-8") from None
    data = _strict_json(text, "body")
    if not isinstance(data, dict):
        raise _error(MALFORMED_MESSAGE, "the body is not a JSON object")

    message_type = _string_field(data, "Type", required=True)
    if message_type not in MESSAGE_TYPES:
        raise _error(MALFORMED_MESSAGE, "unknown SNS message Type")
    message_id = _string_field(data, "MessageId", required=True)
    if not _MESSAGE_ID_RE.fullmatch(message_id):  # type: ignore[arg-type]
        raise _error(MALFORMED_MESSAGE, "MessageId is not an SNS message id")
    topic_arn = _string_field(data, "TopicArn", required=True)
    if not _TOPIC_ARN_RE.fullmatch(topic_arn):  # type: ignore[arg-type]
        raise _error(MALFORMED_MESSAGE, "TopicArn is not an SNS topic ARN")
    message = _string_field(data, "Message", required=True)
    timestamp_text = _string_field(data, "Timestamp", required=True)
    signature_version = _string_field(data, "SignatureVersion", required=True)
    signature = _string_field(data, "Signature", required=True)
    signing_cert_url = _string_field(data, "SigningCertURL", required=True)
    confirmation = message_type != NOTIFICATION
    subscribe_url = _string_field(data, "SubscribeURL", required=confirmation)
    token = _string_field(data, "Token", required=confirmation)
    unsubscribe_url = _string_field(data, "UnsubscribeURL", required=False)
    subject = _string_field(data, "Subject", required=False)
    timestamp = _parse_timestamp(timestamp_text)  # type: ignore[arg-type]

    for header, value in (("x-amz-sns-message-type", message_type), ("x-amz-sns-topic-arn", topic_arn),
                          ("x-amz-sns-message-id", message_id)):
        sent = _header(headers, header)
        if sent is not None and sent != value:
            raise _error(MALFORMED_MESSAGE, f"header {header} does not match the body")

    return SnsEnvelope(
        type=message_type,  # type: ignore[arg-type]
        message_id=message_id,  # type: ignore[arg-type]
        topic_arn=topic_arn,  # type: ignore[arg-type]
        message=message,  # type: ignore[arg-type]
        timestamp=timestamp,
        signature_version=signature_version,  # type: ignore[arg-type]
        signature=signature,  # type: ignore[arg-type]
        signing_cert_url=signing_cert_url,  # type: ignore[arg-type]
        subscribe_url=subscribe_url,
        token=token,
        unsubscribe_url=unsubscribe_url,
        subject=subject,
        timestamp_text=timestamp_text,
    )


# -- replay protection ---------------------------------------------------------------------------


class ReplayCache(Protocol):
    """Remembers verified message ids for at least the verifier's acceptance window.

    ``seen(message_id)`` must check and record the id atomically. It returns True if the
    id was already recorded, and otherwise records it and returns False. It may also offer
    ``forget(message_id)`` (see :meth:`SnsVerifier.forget`).

    With several Saleor workers, the Saleor layer should plug in a shared cache. For
    example, with Django's cache::

        class DjangoReplayCache:
            def __init__(self, ttl_seconds): self.ttl = ttl_seconds
            def seen(self, message_id):
                return not cache.add(f"amazonpay:sns:{message_id}", 1, timeout=self.ttl)
            def forget(self, message_id):
                cache.delete(f"amazonpay:sns:{message_id}")
    """

    def seen(self, message_id: str) -> bool: ...


class InMemoryReplayCache:
    """A thread-safe in-memory LRU of message ids with a TTL. It works for one process only.

    When more than ``max_entries`` ids arrive within one TTL, the oldest ids are dropped.
    A replay of a dropped id would then be accepted. That is harmless for IPNs, which only
    tell the caller to read an object again, but a shared cache avoids it.
    """

    def __init__(self, ttl: timedelta = timedelta(hours=1, minutes=5), *, max_entries: int = 100_000,
                 clock: "Callable[[], datetime] | None" = None) -> None:
        if ttl <= timedelta(0):
            raise ConfigError("the replay cache TTL must be positive", field="ttl")
        if max_entries < 1:
            raise ConfigError("the replay cache needs room for at least one entry", field="max_entries")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock or _utc_now
        self._entries: "OrderedDict[str, datetime]" = OrderedDict()
        self._lock = threading.Lock()

    def _purge(self, now: datetime) -> None:
        while self._entries:
            oldest, expires = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[oldest]

    def seen(self, message_id: str) -> bool:
        now = self._clock()
        with self._lock:
            self._purge(now)
            expires = self._entries.get(message_id)
            if expires is not None and expires > now:
                return True
            self._entries[message_id] = now + self.ttl
            self._entries.move_to_end(message_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return False

    def forget(self, message_id: str) -> None:
        with self._lock:
            self._entries.pop(message_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# -- network helpers --------------------------------------------------------------------------------


def fetch_certificate(url: str, *, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_CERT_BYTES) -> bytes:
    """The default certificate fetcher. It does an HTTP GET with no redirects, a ``timeout``
    per connect and per read, twice ``timeout`` in total, and at most ``max_bytes`` of body.

    :class:`SnsVerifier` checks the URL before it calls this function. The https
    connection is what ties the certificate to AWS, so TLS verification (the ``requests``
    default) must stay on.
    """
    deadline = time.monotonic() + 2 * timeout
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False, stream=True,
                          headers={"Accept": "application/x-pem-file, */*;q=0.1"}) as response:
            if response.status_code != 200:
                raise _error(CERTIFICATE_UNAVAILABLE,
                             f"the signing certificate URL answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is too large")
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(chunk_size=1024):
                total += len(chunk)
                if total > max_bytes:
                    raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is too large")
                if time.monotonic() > deadline:
                    raise _error(CERTIFICATE_UNAVAILABLE, "the signing certificate download was too slow")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise _error(CERTIFICATE_UNAVAILABLE,
                     f"could not fetch the signing certificate ({type(exc).__name__})") from None


def get_status(url: str, *, timeout: float = FETCH_TIMEOUT) -> int:
    """The default SubscribeURL visitor. It does a GET with no redirects and returns the HTTP status."""
    with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
        return response.status_code


# -- certificates ---------------------------------------------------------------------------------------


def _validity(cert: x509.Certificate) -> "tuple[datetime, datetime]":
    before = getattr(cert, "not_valid_before_utc", None)
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None or after is None:  # cryptography < 42
        before = cert.not_valid_before.replace(tzinfo=timezone.utc)
        after = cert.not_valid_after.replace(tzinfo=timezone.utc)
    return before, after


def _load_certificate(pem: "bytes | str") -> x509.Certificate:
    if isinstance(pem, str):
        try:
            pem = pem.encode("ascii")
        except UnicodeEncodeError:
            raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is not PEM") from None
    if not isinstance(pem, (bytes, bytearray)):
        raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is not PEM")
    if len(pem) > MAX_CERT_BYTES:
        raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is too large")
    try:
        return x509.load_pem_x509_certificate(bytes(pem))
    except ValueError:
        raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is not an X.509 PEM certificate") from None


def _aws_common_name(name: str) -> bool:
    name = name.lower()
    return name == "sns.amazonaws.com" or name.endswith(".amazonaws.com") or name.endswith(".amazonaws.com.cn")


# -- the verifier -------------------------------------------------------------------------------------


class SnsVerifier:
    """Verifies SNS envelopes as AWS requires. It is thread-safe, and one instance is
    meant to be shared by every request, because it holds the certificate and replay caches.

    ``allowed_topics``: the topic ARNs this endpoint accepts. ``None`` accepts any topic.
    In production, configure it.

    ``trusted_certificates``: **for tests only**. It maps an exact ``SigningCertURL`` to a
    PEM. For that exact URL, the PEM is used without a fetch, and the https, host and
    common-name rules are skipped. Every other URL is checked as usual. A ``SubscribeURL``
    with the same scheme, host and port as a trusted certificate URL may be confirmed. The
    certificate must still be a valid X.509 RSA certificate, and the signature must still
    verify.

    ``fetch(url) -> bytes`` downloads a certificate. It defaults to :func:`fetch_certificate`.
    ``clock() -> datetime`` (aware, UTC) is used for freshness and certificate validity.
    ``replay_cache`` defaults to an :class:`InMemoryReplayCache` whose TTL covers the whole
    acceptance window (``max_age + max_skew``).
    """

    def __init__(
        self,
        allowed_topics: "Iterable[str] | None",
        *,
        cert_host_pattern: "str | re.Pattern[str]" = DEFAULT_CERT_HOST_PATTERN,
        trusted_certificates: "Mapping[str, str | bytes] | None" = None,
        fetch: "Callable[[str], bytes] | None" = None,
        max_age: timedelta = timedelta(hours=1),
        max_skew: timedelta = timedelta(minutes=5),
        clock: "Callable[[], datetime] | None" = None,
        replay_cache: "ReplayCache | None" = None,
        cert_cache_size: int = 32,
        confirm_fetch: "Callable[[str], int] | None" = None,
    ) -> None:
        if isinstance(allowed_topics, str):
            raise ConfigError("allowed_topics must be a collection of topic ARNs, not one string",
                              field="allowed_topics")
        if allowed_topics is None:
            self.allowed_topics: "frozenset[str] | None" = None
        else:
            self.allowed_topics = frozenset(t.strip() for t in allowed_topics)
            if not self.allowed_topics:
                raise ConfigError("allowed_topics is empty: pass None to accept any topic",
                                  field="allowed_topics")
        try:
            self._host_re = re.compile(cert_host_pattern) if isinstance(cert_host_pattern, str) else cert_host_pattern
        except re.error as exc:
            raise ConfigError(f"cert_host_pattern is not a regular expression: {exc}",
                              field="cert_host_pattern") from None
        if max_age <= timedelta(0):
            raise ConfigError("max_age must be positive", field="max_age")
        if max_skew < timedelta(0):
            raise ConfigError("max_skew must not be negative", field="max_skew")
        if cert_cache_size < 1:
            raise ConfigError("cert_cache_size must be at least 1", field="cert_cache_size")
        self.max_age = max_age
        self.max_skew = max_skew
        self._clock = clock or _utc_now
        self._fetch = fetch or fetch_certificate
        self._confirm_fetch = confirm_fetch or get_status
        self.replay_cache: ReplayCache = replay_cache if replay_cache is not None else InMemoryReplayCache(
            max_age + max_skew, clock=self._now)

        self._trusted: dict[str, x509.Certificate] = {}
        for url, pem in (trusted_certificates or {}).items():
            try:
                self._trusted[url] = _load_certificate(pem)
            except IpnVerificationError:
                raise ConfigError(f"trusted certificate for {url} is not an X.509 PEM certificate",
                                  field="trusted_certificates") from None
        self._trusted_origins = frozenset(urlsplit(url)[:2] for url in self._trusted)
        if self._trusted:
            logger.warning("SNS verifier trusts %d test certificate URL(s): never do this in production",
                           len(self._trusted))

        self._cert_cache: "OrderedDict[str, x509.Certificate]" = OrderedDict()
        self._cert_cache_size = cert_cache_size
        self._cache_lock = threading.Lock()
        self._fetch_lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------

    def verify(self, envelope: SnsEnvelope) -> SnsEnvelope:
        """Return ``envelope`` if it is authentic, fresh, on an allowed topic and not a replay.

        Otherwise raise :class:`IpnVerificationError`. The checks run cheapest first, and
        the replay cache is written only after the signature has verified.
        """
        if not isinstance(envelope, SnsEnvelope):
            raise TypeError("verify() takes an SnsEnvelope: call parse_envelope(body, headers) first")
        try:
            self._check_topic(envelope.topic_arn)
            self._check_freshness(envelope.timestamp)
            algorithm = _HASHES.get(envelope.signature_version)
            if algorithm is None:
                raise _error(INVALID_SIGNATURE, "unsupported SignatureVersion")
            signature = self._decode_signature(envelope.signature)
            certificate = self._certificate(envelope.signing_cert_url)
            self._check_signature(certificate, signature, envelope.string_to_sign(), algorithm)
            if self.replay_cache.seen(envelope.message_id):
                raise _error(REPLAYED, "this MessageId was already accepted")
        except IpnVerificationError as exc:
            logger.info("SNS message rejected (%s): id=%s type=%s topic=%s",
                        exc.reason_code, envelope.message_id, envelope.type, envelope.topic_arn)
            raise
        logger.debug("SNS message verified: id=%s type=%s topic=%s",
                     envelope.message_id, envelope.type, envelope.topic_arn)
        return envelope

    def verify_request(self, body: "bytes | str", headers: "Mapping[str, Any] | None" = None) -> SnsEnvelope:
        """``verify(parse_envelope(body, headers))``."""
        return self.verify(parse_envelope(body, headers))

    def forget(self, message_id: str) -> None:
        """Remove ``message_id`` from the replay cache, if the cache supports it.

        Call this when processing a verified message failed and you answer non-2xx, so that
        SNS's redelivery (with the same MessageId) is not rejected as "Replayed".
        """
        forget = getattr(self.replay_cache, "forget", None)
        if callable(forget):
            forget(message_id)

    def confirm_subscription(self, envelope: SnsEnvelope,
                             fetch: "Callable[[str], int] | None" = None) -> bool:
        """Confirm a **verified** ``SubscriptionConfirmation`` by GETting its ``SubscribeURL``.

        The URL must be https on an SNS host that matches the host pattern, with no userinfo
        and no port. In test mode it may instead be on the origin of a trusted certificate
        URL. The topic must be allowed. ``fetch(url)`` returns the HTTP status; the default
        is :func:`get_status`, with no redirects. Returns True on HTTP 200 and False on any
        other status or network error. Raises :class:`IpnVerificationError` when it refuses
        to call the URL.
        """
        if envelope.type != SUBSCRIPTION_CONFIRMATION:
            raise _error(MALFORMED_MESSAGE, "only a SubscriptionConfirmation can be confirmed")
        self._check_topic(envelope.topic_arn)
        url = envelope.subscribe_url or ""
        if not self._is_trusted_origin(url):
            self._check_sns_url(url, UNTRUSTED_SUBSCRIBE_URL, "SubscribeURL", pem=False)
        query = parse_qs(urlsplit(url).query)
        if any(topic != envelope.topic_arn for topic in query.get("TopicArn", [])):
            raise _error(UNTRUSTED_SUBSCRIBE_URL, "SubscribeURL names another topic")
        visit = fetch or self._confirm_fetch
        try:
            result = visit(url)
        except Exception as exc:  # noqa: BLE001 - any failure means "not confirmed"
            logger.warning("SNS subscription confirmation failed: id=%s topic=%s (%s)",
                           envelope.message_id, envelope.topic_arn, type(exc).__name__)
            return False
        status = result if isinstance(result, int) else getattr(result, "status_code", None)
        confirmed = status == 200
        logger.info("SNS subscription confirmation %s: id=%s topic=%s status=%s",
                    "succeeded" if confirmed else "failed", envelope.message_id, envelope.topic_arn, status)
        return confirmed

    @property
    def cached_certificate_urls(self) -> "list[str]":
        with self._cache_lock:
            return list(self._cert_cache)

    # -- checks ------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def _check_topic(self, topic_arn: str) -> None:
        if self.allowed_topics is not None and topic_arn not in self.allowed_topics:
            raise _error(TOPIC_NOT_ALLOWED, "the topic is not an allowed Amazon Pay topic")

    def _check_freshness(self, timestamp: datetime) -> None:
        now = self._now()
        if now - timestamp > self.max_age:
            raise _error(STALE_MESSAGE, "the message is older than the accepted window")
        if timestamp - now > self.max_skew:
            raise _error(STALE_MESSAGE, "the message is dated in the future")

    @staticmethod
    def _decode_signature(text: str) -> bytes:
        if len(text) > _MAX_SIGNATURE_CHARS:
            raise _error(INVALID_SIGNATURE, "the signature is too long")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _error(INVALID_SIGNATURE, "the signature is not base64") from None

    def _check_sns_url(self, url: str, reason: str, what: str, *, pem: bool) -> None:
        if (not isinstance(url, str) or not url or len(url) > _MAX_URL_CHARS or not url.isascii()
                or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or "\\" in url):
            raise _error(reason, f"{what} is not a plain URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _error(reason, f"{what} is not a valid URL") from None
        if parts.scheme != "https":
            raise _error(reason, f"{what} is not https")
        if "@" in parts.netloc or parts.username is not None or parts.password is not None:
            raise _error(reason, f"{what} carries credentials")
        host = parts.hostname or ""
        if port is not None or parts.netloc.lower() != host:
            raise _error(reason, f"{what} names a port or an unusual host")
        if not self._host_re.fullmatch(host):
            raise _error(reason, f"{what} is not on an Amazon SNS host")
        if pem:
            if parts.query or parts.fragment or "#" in url or "?" in url:
                raise _error(reason, f"{what} has a query or fragment")
            if not _PEM_PATH_RE.fullmatch(parts.path) or ".." in parts.path or "//" in parts.path:
                raise _error(reason, f"{what} is not a .pem path")

    def _is_trusted_origin(self, url: str) -> bool:
        if not self._trusted_origins or not isinstance(url, str):
            return False
        try:
            return urlsplit(url)[:2] in self._trusted_origins
        except ValueError:
            return False

    def _certificate(self, url: str) -> x509.Certificate:
        trusted = self._trusted.get(url)
        if trusted is not None:
            self._check_certificate(trusted, aws=False)
            return trusted
        self._check_sns_url(url, UNTRUSTED_CERTIFICATE, "SigningCertURL", pem=True)
        now = self._now()
        with self._cache_lock:
            cached = self._cert_cache.get(url)
            if cached is not None:
                before, after = _validity(cached)
                if before <= now <= after:
                    self._cert_cache.move_to_end(url)
                    return cached
                del self._cert_cache[url]  # expired since it was cached: fetch again
        with self._fetch_lock:  # one download per URL, even under concurrent deliveries
            with self._cache_lock:
                cached = self._cert_cache.get(url)
            if cached is not None:
                self._check_certificate(cached, aws=True)
                return cached
            certificate = self._download(url)
            self._check_certificate(certificate, aws=True)  # only good certificates are cached
            with self._cache_lock:
                self._cert_cache[url] = certificate
                while len(self._cert_cache) > self._cert_cache_size:
                    self._cert_cache.popitem(last=False)
            logger.debug("SNS signing certificate fetched and cached: %s", url)
            return certificate

    def _download(self, url: str) -> x509.Certificate:
        try:
            data = self._fetch(url)
        except IpnVerificationError:
            raise
        except Exception as exc:  # noqa: BLE001 - an injected fetcher may raise anything
            raise _error(CERTIFICATE_UNAVAILABLE,
                         f"could not fetch the signing certificate ({type(exc).__name__})") from None
        return _load_certificate(data)

    def _check_certificate(self, certificate: x509.Certificate, *, aws: bool) -> None:
        now = self._now()
        before, after = _validity(certificate)
        if now < before:
            raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is not valid yet")
        if now > after:
            raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate has expired")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
            raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate has no acceptable RSA key")
        if aws:
            names = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            if len(names) != 1 or not isinstance(names[0], str) or not _aws_common_name(names[0]):
                raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate is not issued to Amazon SNS")

    @staticmethod
    def _check_signature(certificate: x509.Certificate, signature: bytes, text: str,
                         algorithm: "type[hashes.HashAlgorithm]") -> None:
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise _error(UNTRUSTED_CERTIFICATE, "the signing certificate has no RSA key")
        try:
            key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), algorithm())
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            raise _error(INVALID_SIGNATURE, "the signature does not match the message") from None


# -- the Amazon Pay notification --------------------------------------------------------------------


class IpnObjectType(str, enum.Enum):
    CHARGE_PERMISSION = "CHARGE_PERMISSION"
    CHARGE = "CHARGE"
    REFUND = "REFUND"
    CHARGEBACK = "CHARGEBACK"


class IpnNotificationType(str, enum.Enum):
    STATE_CHANGE = "STATE_CHANGE"
    ATTRIBUTE_CHANGE = "ATTRIBUTE_CHANGE"


@dataclass(frozen=True)
class IpnNotification:
    """The ids in an Amazon Pay IPN. There is deliberately no state here.

    An IPN only says that something changed. Read the object again with the API
    (``get_charge(object_id)`` and so on) before acting on it.
    """

    merchant_id: str
    object_type: IpnObjectType
    object_id: str
    charge_permission_id: "str | None"
    notification_type: IpnNotificationType
    notification_id: "str | None"
    notification_version: "str | None"
    raw: "dict[str, Any]" = field(default_factory=dict, repr=False, compare=False, hash=False)


def _inner_field(fields: Mapping[str, Any], key: str, *, required: bool) -> "str | None":
    value = fields.get(key.lower())
    if value is None:
        if required:
            raise _error(MALFORMED_MESSAGE, f"the notification has no {key}")
        return None
    if not isinstance(value, str):
        raise _error(MALFORMED_MESSAGE, f"{key} is not a string")
    return value


def _checked_id(value: "str | None", key: str) -> "str | None":
    if value is not None and not _ID_RE.fullmatch(value):
        raise _error(MALFORMED_MESSAGE, f"{key} is not a valid id")
    return value


def parse_notification(envelope: "SnsEnvelope | str") -> IpnNotification:
    """Parse the Amazon Pay notification inside a (verified) SNS ``Notification``.

    Accepts PascalCase keys (``MerchantID``, ``ObjectType``, ``ObjectId``,
    ``ChargePermissionId``, ...), as Amazon sends them today, and the older lowerCamel keys
    (``merchantID``, ``objectType``, ...). Keys are matched without regard to case; two
    spellings of one key are refused. Ids must match ``[A-Za-z0-9-]{1,128}``. Raises
    :class:`IpnVerificationError` ("MalformedMessage").
    """
    if isinstance(envelope, SnsEnvelope):
        if envelope.type != NOTIFICATION:
            raise _error(MALFORMED_MESSAGE, f"an SNS {envelope.type} carries no Amazon Pay notification")
        text = envelope.message
    elif isinstance(envelope, str):
        text = envelope
    else:
        raise TypeError("parse_notification() takes an SnsEnvelope")
    if len(text) > MAX_BODY_BYTES:
        raise _error(MALFORMED_MESSAGE, "the notification is too large")
    data = _strict_json(text, "notification")
    if not isinstance(data, dict):
        raise _error(MALFORMED_MESSAGE, "the notification is not a JSON object")
    fields: dict[str, Any] = {}
    for key, value in data.items():
        folded = key.lower()
        if folded in fields:
            raise _error(MALFORMED_MESSAGE, f"the notification spells {key} twice")
        fields[folded] = value

    merchant_id = _checked_id(_inner_field(fields, "MerchantID", required=True), "MerchantID")
    object_type_text = _inner_field(fields, "ObjectType", required=True)
    try:
        object_type = IpnObjectType(object_type_text)
    except ValueError:
        raise _error(MALFORMED_MESSAGE, "unknown ObjectType") from None
    object_id = _checked_id(_inner_field(fields, "ObjectId", required=True), "ObjectId")
    charge_permission_id = _checked_id(_inner_field(fields, "ChargePermissionId", required=False),
                                       "ChargePermissionId")
    if charge_permission_id is None and object_type is IpnObjectType.CHARGE_PERMISSION:
        charge_permission_id = object_id
    notification_type_text = _inner_field(fields, "NotificationType", required=True)
    try:
        notification_type = IpnNotificationType(notification_type_text)
    except ValueError:
        raise _error(MALFORMED_MESSAGE, "unknown NotificationType") from None
    notification_id = _checked_id(_inner_field(fields, "NotificationId", required=False), "NotificationId")
    version = _inner_field(fields, "NotificationVersion", required=False)
    if version is not None and not _VERSION_RE.fullmatch(version):
        raise _error(MALFORMED_MESSAGE, "NotificationVersion is not a version")
    return IpnNotification(
        merchant_id=merchant_id,  # type: ignore[arg-type]
        object_type=object_type,
        object_id=object_id,  # type: ignore[arg-type]
        charge_permission_id=charge_permission_id,
        notification_type=notification_type,
        notification_id=notification_id,
        notification_version=version,
        raw=data,
    )


__all__ = [
    "CERTIFICATE_UNAVAILABLE", "DEFAULT_CERT_HOST_PATTERN", "INVALID_SIGNATURE", "InMemoryReplayCache",
    "IpnNotification", "IpnNotificationType", "IpnObjectType", "MALFORMED_MESSAGE", "MAX_BODY_BYTES",
    "MAX_CERT_BYTES", "MESSAGE_TYPES", "REASON_CODES", "REPLAYED", "ReplayCache", "STALE_MESSAGE",
    "SnsEnvelope", "SnsVerifier", "TOPIC_NOT_ALLOWED", "UNTRUSTED_CERTIFICATE", "UNTRUSTED_SUBSCRIBE_URL",
    "fetch_certificate", "get_status", "parse_envelope", "parse_notification",
]
