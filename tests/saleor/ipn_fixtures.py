"""Fixtures for Amazon Pay notifications (IPNs) against a real Saleor.

The emulator builds and signs every notification exactly as SNS would send it (envelope,
signature, headers) and records it (``app.ipn.deliveries``). Its endpoint for the test's
merchant is the channel's real IPN URL with delivery switched off, so the emulator's
thread never POSTs anywhere: the test delivers each recorded notification itself, with the
same body and headers, through Django's test client to
``/plugins/channel/<slug>/saleor.payments.amazonpay/ipn`` (the plugin webhook URL).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from django.test import Client

from saleor_amazonpay.emulator import Emulator, build_envelope, ipn_message
from saleor_amazonpay.emulator.sns import SigningIdentity, http_headers
from saleor_amazonpay.plugin import notifications
from saleor_amazonpay.plugin.consts import PLUGIN_ID


@dataclass
class Ipn:
    """Delivers the emulator's notifications to the Saleor plugin endpoint."""

    emulator: Emulator
    merchant_id: str
    channel_slug: str
    client: Client = field(default_factory=Client)
    delivered: set = field(default_factory=set)

    @property
    def path(self) -> str:
        return f"/plugins/channel/{self.channel_slug}/{PLUGIN_ID}/ipn"

    @property
    def topic_arn(self) -> str:
        return self.emulator.app.ipn.topic_arn(self.merchant_id, "sandbox")

    @property
    def certificate_url(self) -> str:
        return self.emulator.app.ipn.signing_cert_url

    def deliveries(self, object_type: "str | None" = None) -> list:
        return [d for d in self.emulator.app.ipn.deliveries
                if d.merchant_id == self.merchant_id
                and object_type in (None, d.message.get("ObjectType"))]

    def pending(self) -> list:
        """Recorded notifications not delivered yet, oldest first."""
        return [d for d in self.deliveries() if d.delivery_id not in self.delivered]

    def post(self, body: "str | bytes", headers: "dict | None" = None, method: str = "post"):
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "text/plain; charset=UTF-8")
        return getattr(self.client, method)(self.path, data=body, content_type=content_type, headers=headers)

    def send(self, delivery):
        self.delivered.add(delivery.delivery_id)
        return self.post(delivery.body, delivery.headers)

    def deliver_pending(self, *, expect: int = 200) -> list:
        """Deliver every recorded notification not delivered yet; each must get ``expect``."""
        responses = []
        for delivery in self.pending():
            response = self.send(delivery)
            assert response.status_code == expect, (delivery.message, response.status_code, response.content)
            responses.append(response)
        return responses

    def skip_pending(self) -> None:
        """Forget the notifications recorded so far (as if they were lost)."""
        self.delivered.update(d.delivery_id for d in self.deliveries())

    # -- building messages by hand --------------------------------------------------------

    def envelope(self, message: "dict | str", *, identity: "SigningIdentity | None" = None,
                 topic_arn: "str | None" = None, signing_cert_url: "str | None" = None,
                 timestamp: "datetime | None" = None, message_id: "str | None" = None,
                 signature_version: str = "1") -> "tuple[str, dict]":
        """A signed SNS notification as the emulator (or someone else) would send it: (body, headers)."""
        envelope = build_envelope(
            message,
            identity=identity or self.emulator.app.ipn.identity,
            topic_arn=topic_arn or self.topic_arn,
            signing_cert_url=signing_cert_url or self.certificate_url,
            signature_version=signature_version,
            message_id=message_id or str(uuid.uuid4()),
            timestamp=timestamp or datetime.now(timezone.utc),
        )
        return json.dumps(envelope, indent=2), http_headers(envelope)

    def resend(self, delivery, **kwargs):
        """The same notification again, as a *new* SNS message (new MessageId, signed now)."""
        return self.post(*self.envelope(delivery.message, **kwargs))

    def message(self, object_type: str, object_id: str, charge_permission_id: "str | None" = None,
                merchant_id: "str | None" = None) -> dict:
        return ipn_message(merchant_id=merchant_id or self.merchant_id, object_type=object_type,
                           object_id=object_id, charge_permission_id=charge_permission_id or object_id)


@pytest.fixture
def ipn(amazonpay, emulator, channel_USD) -> Ipn:
    """The plugin configured to trust the emulator's SNS test certificate (sandbox + emulator only)."""
    notifications.reset()
    merchant_id = amazonpay.merchant["merchant_id"]
    base_configure = amazonpay.configure

    def configure(active: bool = True, **overrides: Any):
        overrides.setdefault("ipn_trusted_certificate_url", f"{emulator.url}/_emulator/sns-cert.pem")
        notifications.reset()
        return base_configure(active, **overrides)

    amazonpay.configure = configure
    configure()
    emulator.app.set_ipn_url(notifications.ipn_url(channel_USD.slug), merchant_id, enabled=False)
    yield Ipn(emulator, merchant_id, channel_USD.slug)
    notifications.reset()
