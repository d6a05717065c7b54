"""Helpers shared by the emulator tests: crafted signed requests and checkout flows."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig, Price
from saleor_amazonpay.core.constants import IDEMPOTENCY_HEADER, SignatureAlgorithm
from saleor_amazonpay.core.signing import (
    RequestSigner,
    format_amz_date,
    load_private_key,
)
from saleor_amazonpay.core.transport import PreparedRequest, RawResponse, WSGITransport
from saleor_amazonpay.emulator import EmulatorApp

REVIEW_URL = "https://shop.test/checkout/review"
RESULT_URL = "https://shop.test/checkout/result"


class RawApi:
    """Build requests by hand (signed by default) to probe the emulator's envelope checks."""

    def __init__(self, app: EmulatorApp, config: AmazonPayConfig, base_url: str = "http://pay-api.test") -> None:
        self.app = app
        self.config = config
        self.base_url = base_url
        self.transport = WSGITransport(app)

    def signer(self, algorithm: "SignatureAlgorithm | None" = None, key_id: "str | None" = None,
               private_pem: "str | None" = None) -> RequestSigner:
        pem = private_pem or self.config.private_key
        return RequestSigner(load_private_key(pem), key_id or self.config.public_key_id,
                             algorithm or self.config.algorithm)

    def send(
        self,
        method: str,
        path: str,
        body: "bytes | Mapping[str, Any] | None" = None,
        *,
        prefix: "str | None" = None,
        query: str = "",
        idempotency_key: "str | None" = None,
        signed_extra: "Mapping[str, str] | None" = None,
        unsigned_extra: "Mapping[str, str] | None" = None,
        signed_headers: "Sequence[str] | None" = None,
        drop_headers: Sequence[str] = (),
        date: "str | None" = None,
        host: "str | None" = None,
        region: "str | None" = None,
        signer: "RequestSigner | None" = None,
        sign_path: "str | None" = None,
        sign_body: "bytes | None" = None,
        authorization: "str | None" = None,
    ) -> RawResponse:
        payload = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        full_path = (self.config.path_prefix if prefix is None else prefix) + path
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "x-amz-pay-date": date or format_amz_date(datetime.now(timezone.utc)),
            "x-amz-pay-host": host or "pay-api.test",
            "x-amz-pay-region": region or self.config.region,
        }
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        headers.update(signed_extra or {})
        if authorization is None:
            names = signed_headers
            if names is None:
                names = [h for h in headers]
            authorization = (signer or self.signer()).sign_request(
                method=method, path=sign_path or full_path, query=query, headers=headers,
                body=payload if sign_body is None else sign_body, signed_headers=names,
            )
        headers["authorization"] = authorization
        headers.update(unsigned_extra or {})
        for name in drop_headers:
            headers.pop(name, None)
        url = f"{self.base_url}{full_path}" + (f"?{query}" if query else "")
        return self.transport.send(PreparedRequest(method, url, headers, payload))


def body_of(response: RawResponse) -> dict:
    return json.loads(response.body.decode("utf-8")) if response.body else {}


def reason(response: RawResponse) -> "tuple[int, str | None]":
    return response.status, body_of(response).get("reasonCode")


def create_session(client: AmazonPayClient, *, review_url: "str | None" = REVIEW_URL, **extra: Any):
    payload: dict[str, Any] = {"webCheckoutDetails": {}, "storeId": client.config.store_id}
    if review_url:
        payload["webCheckoutDetails"]["checkoutReviewReturnUrl"] = review_url
    for key, value in extra.items():
        if key == "web":
            payload["webCheckoutDetails"].update(value)
        else:
            payload[key] = value
    return client.create_checkout_session(payload)


def payment_update(intent: str = "Authorize", amount: str = "100.00", currency: str = "USD", *,
                   pending: bool = False, total: "str | None" = None, result_url: str = RESULT_URL) -> dict:
    details: dict[str, Any] = {
        "paymentIntent": intent,
        "canHandlePendingAuthorization": pending,
        "chargeAmount": {"amount": amount, "currencyCode": currency},
    }
    if total is not None:
        details["totalOrderAmount"] = {"amount": total, "currencyCode": currency}
    return {
        "webCheckoutDetails": {"checkoutResultReturnUrl": result_url},
        "paymentDetails": details,
        "merchantMetadata": {"merchantReferenceId": "ORDER-1", "merchantStoreName": "Test Shop"},
    }


def confirmed_session(app: EmulatorApp, client: AmazonPayClient, *, intent: str = "Authorize",
                      amount: str = "100.00", currency: str = "USD", instrument: str = "1111",
                      pending: bool = False, total: "str | None" = None, address: "str | None" = None) -> str:
    """Create -> buyer approves -> Update -> buyer returns through amazonPayRedirectUrl."""
    session = create_session(client)
    app.buyer_approve(session.checkout_session_id, instrument=instrument, address=address)
    client.update_checkout_session(session.checkout_session_id,
                                   payment_update(intent, amount, currency, pending=pending, total=total))
    app.buyer_confirm(session.checkout_session_id)
    return session.checkout_session_id


def completed_session(app: EmulatorApp, client: AmazonPayClient, *, intent: str = "Authorize",
                      amount: str = "100.00", currency: str = "USD", instrument: str = "1111",
                      pending: bool = False, total: "str | None" = None):
    session_id = confirmed_session(app, client, intent=intent, amount=amount, currency=currency,
                                   instrument=instrument, pending=pending, total=total)
    total_price = Price.of(total, currency) if total else None
    return client.complete_checkout_session(session_id, Price.of(amount, currency), total_order_amount=total_price)
