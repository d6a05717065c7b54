"""Typed models: Decimal money, per-currency formatting, from_api on realistic JSON."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from saleor_amazonpay.core import (
    Address,
    Buyer,
    Charge,
    ChargePermission,
    ChargePermissionState,
    ChargeState,
    CheckoutSession,
    CheckoutSessionState,
    DeliveryTracker,
    Price,
    Refund,
    RefundState,
    StatusDetails,
)
from saleor_amazonpay.core.models import parse_timestamp

pytestmark = pytest.mark.unit


# --- Price ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, api_amount",
    [
        ("14", "USD", "14.00"),
        ("14.5", "USD", "14.50"),
        ("14.00", "USD", "14.00"),
        ("0.01", "EUR", "0.01"),
        ("150000", "GBP", "150000.00"),
        (Decimal("1.23"), "usd", "1.23"),
        (7, "EUR", "7.00"),
        ("100", "JPY", "100"),
        ("100.0", "JPY", "100"),  # numerically whole: no decimals for JPY
        ("10000000", "JPY", "10000000"),
        ("1E+2", "USD", "100.00"),
    ],
)
def test_price_to_api_formats_per_currency(amount, currency, api_amount):
    price = Price.of(amount, currency)
    assert isinstance(price.amount, Decimal)
    assert price.to_api() == {"amount": api_amount, "currencyCode": currency.upper()}
    assert str(price) == f"{api_amount} {currency.upper()}"


def test_price_exponents():
    assert Price.of("1", "JPY").exponent == 0
    assert Price.of("1", "USD").exponent == 2
    assert Price.of("1", "eur").exponent == 2


@pytest.mark.parametrize("amount, currency", [("10.999", "USD"), ("0.001", "EUR"), ("10.5", "JPY"), ("1.01", "JPY")])
def test_price_refuses_extra_decimals(amount, currency):
    price = Price.of(amount, currency)
    assert not price.is_exact()
    with pytest.raises(ValueError, match="decimals"):
        price.to_api()


def test_price_keeps_decimal_exactly():
    price = Price(Decimal("0.1") + Decimal("0.2"), "USD")
    assert price.amount == Decimal("0.3")
    assert price.to_api()["amount"] == "0.30"
    # A float goes through str(), never through its binary expansion.
    assert Price(0.1, "USD").amount == Decimal("0.1")


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity", "-Infinity", "1,00"])
def test_price_rejects_invalid_amounts(amount):
    with pytest.raises(ValueError):
        Price(amount, "USD")


@pytest.mark.parametrize("currency", ["US", "USDD", "", None, "12$", "U5D"])
def test_price_rejects_invalid_currency(currency):
    with pytest.raises(ValueError):
        Price(Decimal("1"), currency)


def test_price_equality_is_numeric():
    assert Price.of("10.0", "usd") == Price.of("10.00", "USD")
    assert Price.of("10", "USD") != Price.of("10", "EUR")


@pytest.mark.parametrize(
    "data, amount",
    [
        ({"amount": "14.00", "currencyCode": "USD"}, Decimal("14.00")),
        ({"amount": 14, "currencyCode": "USD"}, Decimal("14")),  # .NET SDK sends raw JSON numbers
        ({"amount": 14.5, "currencyCode": "USD"}, Decimal("14.5")),
        ({"amount": 0, "currencyCode": "USD"}, Decimal("0")),
        ({"amount": "100", "currencyCode": "JPY"}, Decimal("100")),
    ],
)
def test_price_from_api_accepts_numbers_and_strings(data, amount):
    price = Price.from_api(data)
    assert price.amount == amount
    assert price.currency_code == data["currencyCode"]


def test_price_from_api_from_parsed_json_float_keeps_its_text():
    data = json.loads('{"amount": 19.99, "currencyCode": "EUR"}')
    assert Price.from_api(data).amount == Decimal("19.99")


@pytest.mark.parametrize(
    "data", [None, {}, {"amount": None, "currencyCode": "USD"}, {"amount": "", "currencyCode": "USD"}, "14.00"]
)
def test_price_from_api_missing(data):
    assert Price.from_api(data) is None


def test_price_round_trip():
    price = Price.of("1.23", "USD")
    assert Price.from_api(price.to_api()) == price


# --- timestamps and status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("20191015T204327Z", datetime(2019, 10, 15, 20, 43, 27, tzinfo=timezone.utc)),
        ("2019-10-15T20:43:27Z", datetime(2019, 10, 15, 20, 43, 27, tzinfo=timezone.utc)),
        ("20191015T204327.500Z", datetime(2019, 10, 15, 20, 43, 27, 500000, tzinfo=timezone.utc)),
        (None, None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected


def test_status_details_single_reason():
    status = StatusDetails.from_api(
        {
            "state": "Declined",
            "reasonCode": "SoftDeclined",
            "reasonDescription": "Try again",
            "lastUpdatedTimestamp": "20190714T155300Z",
        }
    )
    assert status.state == "Declined"
    assert status.reason_code == "SoftDeclined"
    assert status.reason_description == "Try again"
    assert status.last_updated == datetime(2019, 7, 14, 15, 53, tzinfo=timezone.utc)
    assert status.reasons == ()


def test_status_details_reasons_array():
    status = StatusDetails.from_api(
        {
            "state": "NonChargeable",
            "reasons": [{"reasonCode": "PaymentMethodExpired", "reasonDescription": "expired"}, None],
        }
    )
    assert status.reasons == (("PaymentMethodExpired", "expired"),)
    assert status.reason_code == "PaymentMethodExpired"
    assert StatusDetails.from_api(None) == StatusDetails(state="")


# --- Checkout Session -----------------------------------------------------------------------


def test_checkout_session_open_from_api(api_samples):
    data = api_samples["checkout_session_open"]
    session = CheckoutSession.from_api(data)
    assert session.checkout_session_id == "bd504926-f659-4ad7-a1a9-9a747aaf5275"
    assert session.state is CheckoutSessionState.OPEN
    assert session.payment_intent == "Authorize"
    assert session.can_handle_pending_authorization is False
    assert session.charge_amount == Price(Decimal("14.00"), "USD")
    assert session.total_order_amount is None
    assert session.checkout_review_return_url == "https://shop.example/checkout/review"
    assert session.checkout_result_return_url == "https://shop.example/checkout/result"
    assert session.amazon_pay_redirect_url is None
    assert session.merchant_reference_id == "ORDER-2024-0001"
    assert session.buyer == Buyer(
        "amzn1.account.AH5QDOO2ABCDEFGHIJKLMNOP", "Zelda Quxington", "zelda.quxington@example.org", "+1-206-555-0147"
    )
    assert session.shipping_address.address_line1 == "1742 Evergreen Terrace"
    assert session.shipping_address.country_code == "US"
    assert session.shipping_address.address_line3 is None
    assert session.billing_address is None
    assert session.payment_descriptor == "Visa ****1111 (Amazon Pay)"
    assert session.constraints == ("ChargeAmountNotSet", "CheckoutResultReturnUrlNotSet")
    assert session.creation_timestamp == datetime(2019, 10, 15, 20, 43, 13, tzinfo=timezone.utc)
    assert session.expiration_timestamp == datetime(2019, 10, 16, 20, 43, 13, tzinfo=timezone.utc)
    assert session.release_environment == "Sandbox"
    assert session.store_id == "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
    assert session.raw == data
    assert session.raw["productType"] == "PayAndShip"  # unmodelled fields are kept


def test_checkout_session_completed_docs_sample(api_samples):
    # The Complete Checkout Session response from the developer docs: lots of nulls.
    session = CheckoutSession.from_api(api_samples["checkout_session_completed"])
    assert session.state is CheckoutSessionState.COMPLETED
    assert session.charge_permission_id == "S01-5105180-3221187"
    assert session.charge_id == "S01-5105180-3221187-C056351"
    assert session.buyer is None
    assert session.shipping_address is None
    assert session.payment_descriptor is None
    assert session.constraints == ()
    assert session.charge_amount is None
    assert session.status.last_updated == datetime(2019, 10, 15, 20, 43, 27, tzinfo=timezone.utc)
    assert session.expiration_timestamp is None


def test_checkout_session_raw_is_a_copy(api_samples):
    data = api_samples["checkout_session_completed"]
    session = CheckoutSession.from_api(data)
    data["chargeId"] = "changed"
    assert session.raw["chargeId"] == "S01-5105180-3221187-C056351"


def test_checkout_session_repr_hides_buyer_data(api_samples, buyer_pii):
    session = CheckoutSession.from_api(api_samples["checkout_session_open"])
    text = repr(session) + str(session)
    assert "bd504926-f659-4ad7-a1a9-9a747aaf5275" in text
    for secret in buyer_pii:
        assert secret not in text
    assert "Seattle" not in text and "98121" not in text


def test_checkout_session_unknown_state_raises_on_access():
    session = CheckoutSession.from_api({"checkoutSessionId": "x", "statusDetails": {"state": "Exploded"}})
    assert session.status.state == "Exploded"
    with pytest.raises(ValueError):
        _ = session.state


# --- Charge ---------------------------------------------------------------------------------


def test_charge_captured_from_api(api_samples):
    data = api_samples["charge_captured"]
    charge = Charge.from_api(data)
    assert charge.charge_id == "S01-5105180-3221187-C056351"
    assert charge.charge_permission_id == "S01-5105180-3221187"
    assert charge.state is ChargeState.CAPTURED
    assert charge.charge_amount == Price(Decimal("14.00"), "USD")
    assert charge.amount is charge.charge_amount
    assert charge.captured_amount == Price(Decimal("14.00"), "USD")
    assert charge.refunded_amount == Price(Decimal("0"), "USD")
    assert charge.converted_amount == Price(Decimal("14"), "USD")
    assert charge.soft_descriptor == "Descriptor"
    assert charge.creation_timestamp == datetime(2019, 7, 14, 15, 53, tzinfo=timezone.utc)
    assert charge.expiration_timestamp == datetime(2019, 8, 12, 15, 53, tzinfo=timezone.utc)
    assert charge.release_environment == "Sandbox"
    assert charge.raw == data


def test_charge_authorized_with_null_amounts(api_samples):
    charge = Charge.from_api(api_samples["charge_authorized"])
    assert charge.state is ChargeState.AUTHORIZED
    assert charge.captured_amount is None
    assert charge.refunded_amount is None


def test_charge_tolerates_non_object_converted_amount(api_samples):
    data = api_samples["charge_captured"]
    data["convertedAmount"] = "14.00"
    charge = Charge.from_api(data)
    assert charge.converted_amount is None
    assert charge.raw["convertedAmount"] == "14.00"


def test_charge_declined_reason(api_samples):
    data = api_samples["charge_authorized"]
    data["statusDetails"] = {
        "state": "Declined",
        "reasonCode": "HardDeclined",
        "reasonDescription": "Declined",
        "lastUpdatedTimestamp": None,
    }
    charge = Charge.from_api(data)
    assert charge.state is ChargeState.DECLINED
    assert charge.status.reason_code == "HardDeclined"
    assert charge.status.last_updated is None


def test_charge_canceled_reason(api_samples):
    charge = Charge.from_api(api_samples["charge_canceled"])
    assert charge.state is ChargeState.CANCELED
    assert charge.status.reason_code == "MerchantCanceled"


def test_charge_repr(api_samples):
    text = repr(Charge.from_api(api_samples["charge_captured"]))
    assert text.startswith("Charge(")
    assert "S01-5105180-3221187-C056351" in text


# --- Charge Permission ----------------------------------------------------------------------


def test_charge_permission_from_api(api_samples, buyer_pii):
    data = api_samples["charge_permission_chargeable"]
    permission = ChargePermission.from_api(data)
    assert permission.charge_permission_id == "S01-5105180-3221187"
    assert permission.state is ChargePermissionState.CHARGEABLE
    assert permission.charge_permission_type == "OneTime"
    assert permission.amount_limit == Price(Decimal("14.00"), "USD")
    assert permission.amount_balance == Price(Decimal("14.00"), "USD")
    assert permission.payment_descriptor == "Visa ****1111 (Amazon Pay)"
    assert permission.merchant_reference_id == "32-41-323141-32"
    assert permission.buyer.email == "zelda.quxington@example.org"
    assert permission.billing_address.postal_code == "98121"
    assert permission.status.reasons == ()
    assert permission.raw == data
    text = repr(permission)
    assert "S01-5105180-3221187" in text
    for secret in buyer_pii:
        assert secret not in text


def test_charge_permission_closed_reasons(api_samples):
    permission = ChargePermission.from_api(api_samples["charge_permission_closed"])
    assert permission.state is ChargePermissionState.CLOSED
    assert permission.status.reasons == (
        ("MerchantClosed", "No more charges required"),
        ("AmazonClosed", "Closed by Amazon"),
    )
    assert permission.status.reason_code == "MerchantClosed"
    assert permission.amount_limit is None
    assert permission.buyer is None


# --- Refund ---------------------------------------------------------------------------------


def test_refund_from_api(api_samples):
    data = api_samples["refund_initiated"]
    refund = Refund.from_api(data)
    assert refund.refund_id == "S01-5105180-3221187-R022311"
    assert refund.charge_id == "S01-5105180-3221187-C056351"
    assert refund.state is RefundState.REFUND_INITIATED
    assert refund.refund_amount == Price(Decimal("14.00"), "USD")
    assert refund.amount is refund.refund_amount
    assert refund.soft_descriptor == "Descriptor"
    assert refund.creation_timestamp == datetime(2019, 7, 14, 15, 53, tzinfo=timezone.utc)
    assert refund.raw == data
    assert "S01-5105180-3221187-R022311" in repr(refund)


def test_refund_states():
    for state, expected in (("Refunded", RefundState.REFUNDED), ("Declined", RefundState.DECLINED)):
        assert Refund.from_api({"refundId": "r", "statusDetails": {"state": state}}).state is expected


# --- Delivery tracker -----------------------------------------------------------------------


def test_delivery_tracker_to_api_matches_the_documented_body():
    tracker = DeliveryTracker("S01-5105180-3221187", "01234567890", "FEDEX")
    assert tracker.to_api() == {
        "chargePermissionId": "S01-5105180-3221187",
        "deliveryDetails": [{"trackingNumber": "01234567890", "carrierCode": "FEDEX"}],
    }


def test_delivery_tracker_from_api(api_samples):
    data = api_samples["delivery_tracker"]
    tracker = DeliveryTracker.from_api(data)
    assert tracker == DeliveryTracker("S01-5105180-3221187", "1Z999AA10123456784", "UPS")
    assert tracker.raw == data
    assert DeliveryTracker.from_api(tracker.to_api()) == tracker


def test_delivery_tracker_for_v1_order_reference():
    data = {
        "amazonOrderReferenceId": "P00-0000000-0000000",
        "deliveryDetails": [{"trackingNumber": "1Z", "carrierCode": "UPS"}],
    }
    tracker = DeliveryTracker.from_api(data)
    assert tracker.charge_permission_id == ""
    assert tracker.tracking_number == "1Z"
    assert tracker.raw["amazonOrderReferenceId"] == "P00-0000000-0000000"


# --- personal data --------------------------------------------------------------------------


def test_buyer_and_address_reprs_hide_personal_data(api_samples, buyer_pii):
    data = api_samples["checkout_session_open"]
    buyer = Buyer.from_api(data["buyer"])
    address = Address.from_api(data["shippingAddress"])
    text = repr(buyer) + str(buyer) + repr(address) + str(address)
    for secret in buyer_pii:
        assert secret not in text
    assert "amzn1.account.AH5QDOO2ABCDEFGHIJKLMNOP" in repr(buyer)
    assert "US" in repr(address)


def test_address_round_trip_drops_nulls(api_samples):
    data = api_samples["checkout_session_open"]["shippingAddress"]
    address = Address.from_api(data)
    assert address.to_api() == {k: v for k, v in data.items() if v is not None}
    assert Address.from_api(None) is None and Address.from_api({}) is None


def test_state_enum_values_are_spelled_as_in_the_api():
    assert [s.value for s in ChargeState] == [
        "AuthorizationInitiated",
        "Authorized",
        "CaptureInitiated",
        "Captured",
        "Canceled",
        "Declined",
        "Pending",
    ]
    assert [s.value for s in CheckoutSessionState] == ["Open", "Completed", "Canceled"]
    assert [s.value for s in ChargePermissionState] == ["Chargeable", "NonChargeable", "Closed"]
    assert [s.value for s in RefundState] == ["RefundInitiated", "Refunded", "Declined"]
