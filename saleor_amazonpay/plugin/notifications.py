"""The IPN endpoint: Amazon Pay notifications, verified as AWS SNS messages, then applied.

``POST /plugins/channel/<channel-slug>/saleor.payments.amazonpay/ipn`` (see :func:`ipn_url`).

1. Verify (``core.ipn``): strict parsing, topic allow-list (``ipn_topic_arns``), freshness,
   the signing certificate (https on ``sns.<region>.amazonaws.com`` only, fetched once and
   cached per process), the SignatureVersion 1/2 signature, then the replay cache (Django's
   cache, so every Saleor process shares it).
2. Check the notification's MerchantID against the channel's, before any API call.
3. Find the Saleor payment by the ids in its metadata. Unknown: acknowledge (200) and do nothing.
4. Read the object (Charge, Refund, ChargePermission) from Amazon with the channel's keys: the
   notification's own content is never trusted beyond its ids.
5. Lock the payment and apply Amazon's current state (``sync.PaymentSync``).

Answers: 200 when handled, ignored or already handled (a replay); 400 for malformed, stale
or foreign (other merchant) messages; 403 when the signature, certificate or topic is not
trusted; 405 for other methods; 503 when the signing certificate or Amazon could not be
reached, or processing failed, so SNS delivers the message again. When a verified message
is not processed (non-2xx), its MessageId is forgotten again so that SNS's redelivery is
not mistaken for a replay. Logs name message ids, topics and Amazon/Saleor ids only: never
buyer data, message bodies, tokens or URLs.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta
from urllib.parse import urljoin

import requests
from django.db import transaction
from django.http import HttpResponse

from ..core import (
    AmazonPayError,
    AuthenticationError,
    ConfigError,
    IpnNotification,
    IpnObjectType,
    IpnVerificationError,
    NotFoundError,
    SnsVerifier,
    parse_envelope,
    parse_notification,
)
from ..core import ipn as core_ipn
from . import sync
from .clients import client_for
from .consts import PLUGIN_ID
from .settings import ChannelSettings, trusted_certificate_problem

logger = logging.getLogger("saleor_amazonpay.notifications")

IPN_SUB_PATH = "ipn"
#: Amazon retries "every hour for the next 3 hours"; SNS keeps the original Timestamp.
MAX_AGE = timedelta(hours=4)
MAX_SKEW = timedelta(minutes=5)
REPLAY_KEY_PREFIX = "saleor_amazonpay:sns:"

_FORBIDDEN = frozenset({core_ipn.INVALID_SIGNATURE, core_ipn.UNTRUSTED_CERTIFICATE, core_ipn.TOPIC_NOT_ALLOWED,
                        core_ipn.UNTRUSTED_SUBSCRIBE_URL})


def ipn_url(channel_slug: str) -> str:
    """The absolute URL to paste into Seller Central for this channel."""
    from django.urls import reverse
    from saleor.core.utils import build_absolute_uri

    path = reverse("plugins-per-channel", kwargs={"plugin_id": PLUGIN_ID, "channel_slug": channel_slug})
    return urljoin(build_absolute_uri(path), IPN_SUB_PATH)


class DjangoReplayCache:
    """``core.ipn.ReplayCache`` on Django's cache: shared by every Saleor process.

    ``cache.add`` is atomic (SET NX on Redis), so two processes receiving the same
    MessageId cannot both accept it. With the local-memory cache (Saleor's default without
    ``CACHE_URL``) it only covers one process: configure Redis in production.
    """

    def __init__(self, ttl: timedelta) -> None:
        self.timeout = int(ttl.total_seconds()) + 1

    @staticmethod
    def key(message_id: str) -> str:
        return REPLAY_KEY_PREFIX + message_id

    def seen(self, message_id: str) -> bool:
        from django.core.cache import cache

        return not cache.add(self.key(message_id), 1, timeout=self.timeout)

    def forget(self, message_id: str) -> None:
        from django.core.cache import cache

        cache.delete(self.key(message_id))


# -- verifiers (one per configuration, per process: they hold the certificate cache) ------------

_lock = threading.Lock()
_verifiers: "dict[tuple, SnsVerifier]" = {}
_trusted_pems: "dict[str, str]" = {}


def reset() -> None:
    """Forget cached verifiers and test certificates (tests)."""
    with _lock:
        _verifiers.clear()
        _trusted_pems.clear()


def _unavailable(message: str) -> IpnVerificationError:
    error = IpnVerificationError(message, reason_code=core_ipn.CERTIFICATE_UNAVAILABLE)
    error.should_retry = True
    return error


def _trusted_pem(url: str) -> str:
    """The emulator's test certificate (sandbox + emulator only; see settings.trusted_certificate_problem)."""
    pem = _trusted_pems.get(url)
    if pem is None:
        try:
            response = requests.get(url, timeout=5, allow_redirects=False)
        except requests.RequestException as exc:
            raise _unavailable(f"could not fetch the test signing certificate ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise _unavailable(f"the test signing certificate URL answered HTTP {response.status_code}")
        pem = response.text
        with _lock:
            _trusted_pems[url] = pem
    return pem


def verifier_for(settings: ChannelSettings) -> SnsVerifier:
    topics = settings.ipn_topics or None
    trusted_url = ""
    if settings.ipn_trusted_certificate_url:
        problem = trusted_certificate_problem(settings)
        if problem:
            logger.warning("Amazon Pay IPN: ignoring ipn_trusted_certificate_url: %s", problem)
        else:
            trusted_url = settings.ipn_trusted_certificate_url
    trusted = {trusted_url: _trusted_pem(trusted_url)} if trusted_url else None
    fingerprint = hashlib.sha256(trusted[trusted_url].encode()).hexdigest() if trusted else ""
    key = (topics, trusted_url, fingerprint)
    verifier = _verifiers.get(key)
    if verifier is None:
        with _lock:
            verifier = _verifiers.get(key)
            if verifier is None:
                verifier = SnsVerifier(topics, trusted_certificates=trusted, max_age=MAX_AGE, max_skew=MAX_SKEW,
                                       replay_cache=DjangoReplayCache(MAX_AGE + MAX_SKEW))
                _verifiers[key] = verifier
    return verifier


# -- the endpoint ---------------------------------------------------------------------------------


def _answer(status: int, text: str) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def handle(request, settings: ChannelSettings, channel_slug: str) -> HttpResponse:
    """Saleor's plugin ``webhook`` for ``/ipn``."""
    if request.method != "POST":
        response = _answer(405, "method not allowed")
        response["Allow"] = "POST"
        return response
    try:
        envelope = parse_envelope(request.body, request.headers)
    except IpnVerificationError as exc:
        logger.info("Amazon Pay IPN for channel %s refused (%s)", channel_slug, exc.reason_code)
        return _answer(400, f"refused: {exc.reason_code}")
    try:
        verifier = verifier_for(settings)
    except ConfigError as exc:
        logger.error("Amazon Pay IPN for channel %s: the notification settings are invalid (%s)", channel_slug, exc)
        return _answer(503, "unavailable: notification settings are invalid")
    except IpnVerificationError as exc:
        logger.warning("Amazon Pay IPN %s (channel %s): %s; asking SNS to retry",
                       envelope.message_id, channel_slug, exc.reason_code)
        return _answer(503, f"unavailable: {exc.reason_code}")
    try:
        verifier.verify(envelope)
    except IpnVerificationError as exc:
        reason = exc.reason_code or "Invalid"
        if reason == core_ipn.REPLAYED:
            logger.info("Amazon Pay IPN %s (channel %s) was already handled: duplicate ignored",
                        envelope.message_id, channel_slug)
            return _answer(200, "duplicate: already handled")
        if exc.should_retry:
            logger.warning("Amazon Pay IPN %s (channel %s): %s; asking SNS to retry",
                           envelope.message_id, channel_slug, reason)
            return _answer(503, f"unavailable: {reason}")
        logger.warning("Amazon Pay IPN %s (channel %s) refused: %s (topic %s)",
                       envelope.message_id, channel_slug, reason, envelope.topic_arn)
        return _answer(403 if reason in _FORBIDDEN else 400, f"refused: {reason}")

    try:
        status, text = _process(verifier, envelope, settings, channel_slug)
    except Exception:
        logger.exception("Amazon Pay IPN %s (channel %s) could not be processed", envelope.message_id, channel_slug)
        status, text = 503, "unavailable: processing failed"
    if status >= 300:
        verifier.forget(envelope.message_id)  # let SNS's redelivery (same MessageId) through
    return _answer(status, text)


def _process(verifier: SnsVerifier, envelope, settings: ChannelSettings, channel_slug: str) -> "tuple[int, str]":
    if envelope.type == core_ipn.SUBSCRIPTION_CONFIRMATION:
        if not settings.ipn_topics:
            # Anyone can create an SNS topic and subscribe this URL: only subscribe to topics
            # the merchant allowed. Amazon Pay does not need a confirmation for its IPNs.
            logger.warning("Amazon Pay IPN: subscription confirmation for topic %s (channel %s) not confirmed: "
                           "no allowed topics configured", envelope.topic_arn, channel_slug)
            return 200, "subscription not confirmed: topic not configured"
        if verifier.confirm_subscription(envelope):
            return 200, "subscription confirmed"
        return 503, "subscription confirmation failed"
    if envelope.type == core_ipn.UNSUBSCRIBE_CONFIRMATION:
        logger.warning("Amazon Pay IPN: this endpoint was unsubscribed from topic %s (channel %s)",
                       envelope.topic_arn, channel_slug)
        return 200, "ok"

    try:
        note = parse_notification(envelope)
    except IpnVerificationError as exc:
        logger.warning("Amazon Pay IPN %s (channel %s): bad notification (%s)", envelope.message_id, channel_slug,
                       exc.reason_code)
        return 400, f"refused: {exc.reason_code}"
    if note.merchant_id != settings.merchant_id:
        logger.warning("Amazon Pay IPN %s for merchant %s reached channel %s, configured for merchant %s: refused",
                       envelope.message_id, note.merchant_id, channel_slug, settings.merchant_id)
        return 400, "refused: MerchantID does not match this channel"
    logger.info("Amazon Pay IPN %s accepted: topic %s, %s %s %s (charge permission %s)", envelope.message_id,
                envelope.topic_arn, note.notification_type.value, note.object_type.value, note.object_id,
                note.charge_permission_id)
    return apply_notification(note, settings, channel_slug)


def apply_notification(note: IpnNotification, settings: ChannelSettings, channel_slug: str) -> "tuple[int, str]":
    """Find the payment, read the object from Amazon, apply it. Returns (HTTP status, text)."""
    payment = sync.find_payment(note.charge_permission_id, note.object_id)
    if payment is None:
        logger.info("Amazon Pay IPN about %s %s: no Saleor payment knows it; acknowledged, nothing changed",
                    note.object_type.value, note.object_id)
        return 200, "ignored: unknown object"
    payment_channel = sync.payment_channel_slug(payment)
    if payment_channel and payment_channel != channel_slug:
        # One IPN URL per Amazon merchant account: it serves every channel using that account.
        other = sync.channel_settings(payment_channel)
        if other is None or other.merchant_id != note.merchant_id:
            logger.info("Amazon Pay IPN about %s %s: payment %s is in channel %s, not configured for merchant %s; "
                        "acknowledged, nothing changed", note.object_type.value, note.object_id, payment.pk,
                        payment_channel, note.merchant_id)
            return 200, "ignored: payment of another merchant's channel"
        settings = other
    client = client_for(settings)
    try:
        if note.object_type is IpnObjectType.CHARGE:
            obj = client.get_charge(note.object_id)
        elif note.object_type is IpnObjectType.REFUND:
            obj = client.get_refund(note.object_id)
        elif note.object_type is IpnObjectType.CHARGE_PERMISSION:
            obj = client.get_charge_permission(note.object_id)
        else:
            obj = None  # CHARGEBACK: the API has no call to read one
    except NotFoundError:
        logger.warning("Amazon Pay IPN about %s %s: Amazon does not know the object (sandbox/live keys mixed up?); "
                       "acknowledged", note.object_type.value, note.object_id)
        return 200, "ignored: object not found at Amazon"
    except AuthenticationError as exc:
        logger.error("Amazon Pay IPN about %s %s: Amazon refused the channel's keys: %s",
                     note.object_type.value, note.object_id, exc)
        return 503, "unavailable: Amazon refused the keys"
    except AmazonPayError as exc:
        logger.warning("Amazon Pay IPN about %s %s: reading it from Amazon failed: %s",
                       note.object_type.value, note.object_id, exc)
        return 503, "unavailable: Amazon could not be read"

    with transaction.atomic():
        locked = sync.lock_payment(payment.pk)
        state = sync.PaymentSync(locked, settings, source="notification", client=client)
        if obj is None:
            state.chargeback(note.object_id)
        else:
            state.apply(obj)
        state.finish()
    for change in state.changes:
        logger.info("Amazon Pay payment %s: %s", payment.pk, change)
    return 200, "ok" if state.changes else "ok: nothing to change"
