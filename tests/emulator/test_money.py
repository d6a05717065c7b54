"""Amounts: strings or JSON numbers, currency decimals, currencies per region."""

from __future__ import annotations

import uuid

import pytest

from .conftest import new_merchant
from .helpers import RawApi, body_of, reason


def update(raw, session_id, amount, currency="USD", **details):
    body = {"paymentDetails": dict({"paymentIntent": "Authorize",
                                    "chargeAmount": {"amount": amount, "currencyCode": currency}}, **details)}
    return raw.send("PATCH", f"/checkoutSessions/{session_id}", body)


def new_session(raw) -> str:
    body = {"storeId": raw.config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key=uuid.uuid4().hex)
    return body_of(response)["checkoutSessionId"]


@pytest.mark.parametrize("amount, shown", [("14.00", "14.00"), ("14", "14.00"), ("14.5", "14.50"),
                                           ("0.01", "0.01")])
def test_string_amounts(raw, amount, shown):
    response = update(raw, new_session(raw), amount)
    assert response.status == 200
    assert body_of(response)["paymentDetails"]["chargeAmount"] == {"amount": shown, "currencyCode": "USD"}


def test_json_number_amounts_are_accepted_without_float_rounding(raw):
    session_id = new_session(raw)
    body = b'{"paymentDetails":{"paymentIntent":"Authorize","chargeAmount":{"amount":14.1,"currencyCode":"USD"}}}'
    response = raw.send("PATCH", f"/checkoutSessions/{session_id}", body)
    assert body_of(response)["paymentDetails"]["chargeAmount"]["amount"] == "14.10"
    response = raw.send("PATCH", f"/checkoutSessions/{session_id}",
                        b'{"paymentDetails":{"chargeAmount":{"amount":14,"currencyCode":"USD"}}}')
    assert body_of(response)["paymentDetails"]["chargeAmount"]["amount"] == "14.00"


@pytest.mark.parametrize("amount", ["10.999", "-1", "0", "abc", "1e3", " 1", "", True, None, 1.5e400])
def test_invalid_amounts(raw, amount):
    response = update(raw, new_session(raw), amount)
    assert response.status == 400
    assert body_of(response)["reasonCode"] in ("InvalidParameterValue", "MissingParameterValue")


def test_too_many_decimals_as_json_number(raw):
    response = raw.send("PATCH", f"/checkoutSessions/{new_session(raw)}",
                        b'{"paymentDetails":{"chargeAmount":{"amount":10.999,"currencyCode":"USD"}}}')
    assert reason(response) == (400, "InvalidParameterValue")


def test_amount_above_amazons_maximum(raw):
    assert reason(update(raw, new_session(raw), "150000.01")) == (400, "InvalidParameterValue")
    assert update(raw, new_session(raw), "150000.00").status == 200


@pytest.mark.parametrize("currency", ["usd", "US", "DOLLAR"])
def test_malformed_currency_code(raw, currency):
    assert reason(update(raw, new_session(raw), "1.00", currency)) == (400, "InvalidParameterValue")


def test_currency_of_another_region(raw):
    assert reason(update(raw, new_session(raw), "1.00", "EUR")) == (400, "CurrencyMismatch")


@pytest.fixture
def jp_raw(emulator_app, key_pair):
    return RawApi(emulator_app, new_merchant(emulator_app, key_pair, region="jp").config)


def test_jpy_has_no_decimals(jp_raw):
    assert update(jp_raw, new_session(jp_raw), "100", "JPY").status == 200
    assert reason(update(jp_raw, new_session(jp_raw), "10.5", "JPY")) == (400, "InvalidParameterValue")
    assert reason(update(jp_raw, new_session(jp_raw), "100.00", "JPY")) == (400, "InvalidParameterValue")
    shown = body_of(update(jp_raw, new_session(jp_raw), "1500", "JPY"))["paymentDetails"]["chargeAmount"]
    assert shown == {"amount": "1500", "currencyCode": "JPY"}


def test_eu_merchants_take_eur_and_gbp_and_presentment_currencies(emulator_app, key_pair):
    raw = RawApi(emulator_app, new_merchant(emulator_app, key_pair, region="eu").config)
    assert update(raw, new_session(raw), "1.00", "EUR").status == 200
    assert update(raw, new_session(raw), "1.00", "GBP").status == 200
    assert reason(update(raw, new_session(raw), "1.00", "CHF")) == (400, "CurrencyMismatch")
    assert update(raw, new_session(raw), "1.00", "CHF", presentmentCurrency="CHF").status == 200
    assert reason(update(raw, new_session(raw), "1.00", "USD")) == (400, "CurrencyMismatch")


def test_total_order_amount_currency_and_size(raw):
    session_id = new_session(raw)
    assert reason(update(raw, session_id, "10.00", totalOrderAmount={"amount": "20.00", "currencyCode": "EUR"})) == (
        400, "CurrencyMismatch")
    assert reason(update(raw, session_id, "10.00", totalOrderAmount={"amount": "5.00", "currencyCode": "USD"})) == (
        400, "InvalidParameterValue")
    assert update(raw, session_id, "10.00", totalOrderAmount={"amount": "20.00", "currencyCode": "USD"}).status == 200


def test_price_object_needs_both_fields(raw):
    session_id = new_session(raw)
    for price in ({"amount": "1"}, {"currencyCode": "USD"}, "1.00 USD", {"amount": "1", "currencyCode": "USD", "x": 1}):
        response = raw.send("PATCH", f"/checkoutSessions/{session_id}", {"paymentDetails": {"chargeAmount": price}})
        assert response.status == 400, price
