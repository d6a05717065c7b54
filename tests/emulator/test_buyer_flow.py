"""The hosted buyer pages, driven by plain HTTP like a browser without JavaScript."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from saleor_amazonpay.core import (
    ChargeState,
    CheckoutSessionState,
    InvalidStateError,
    Price,
    SignatureAlgorithm,
)
from saleor_amazonpay.core.signing import RequestSigner, load_private_key

from .helpers import RESULT_URL, REVIEW_URL, create_session, payment_update

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


def button_config(config, payload=None, **overrides):
    payload = payload or {"storeId": config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": REVIEW_URL}}
    signed = config.signer.sign_button_payload(payload).as_button_config()
    fields = dict(signed, merchantId=config.merchant_id, ledgerCurrency="USD", checkoutLanguage="en_US",
                  productType="PayAndShip", placement="Cart", sandbox="true")
    fields.update(overrides)
    return fields


def session_id_from(url: str) -> str:
    return parse_qs(urlsplit(url).query)["amazonCheckoutSessionId"][0]


def sign_in(browser, config, **kwargs) -> str:
    """Button click -> sign-in; returns the approval page path."""
    response = browser.post_form("/_emulator/buyer/signin", button_config(config, **kwargs))
    assert response.status == 303, response.text
    return response.location


def approve(browser, approve_url: str, *, address="US", instrument="1111") -> str:
    page = browser.get(approve_url)
    assert page.status == 200
    session_id = re.search(r'name="checkoutSessionId" id="checkout-session-id" value="([^"]+)"', page.text)[1]
    response = browser.post_form("/_emulator/buyer/approve", {
        "checkoutSessionId": session_id, "name": "Test Buyer", "email": "buyer@example.com",
        "address": address, "instrument": instrument, "action": "approve"})
    assert response.status == 302, response.text
    return response.location


def test_checkout_js_is_served(browser):
    response = browser.get("/_emulator/checkout.js")
    assert response.status == 200 and "javascript" in response.headers["Content-Type"]
    assert 'var AMAZON_PAY_EMULATOR_ORIGIN = "http://pay-api.test";' in response.text
    for name in ("renderButton", "initCheckout", "bindChangeAction", "createCheckoutSessionConfig",
                 "/_emulator/buyer/signin", "payloadJSON"):
        assert name in response.text


def test_approval_page_has_stable_controls(browser, config):
    page = browser.get(sign_in(browser, config))
    for marker in ('<select name="address" id="address">', 'name="instrument" id="instrument-1111" value="1111"',
                   'id="amazonpay-approve"', 'id="amazonpay-cancel"', 'id="buyer-name"', 'id="buyer-email"'):
        assert marker in page.text
    for code in ("1111", "3434", "0002", "0701", "4354", "3064"):
        assert f'id="instrument-{code}"' in page.text


OUTCOMES = {
    # instrument: (what the buyer's return does, what Complete answers, resulting charge state per intent)
    "1111": ("ok", 200, {"Authorize": "Authorized", "AuthorizeWithCapture": "Captured"}),
    "0010": ("ok", 200, {"Authorize": "Authorized", "AuthorizeWithCapture": "Captured"}),
    "0701": ("ok", 202, {"Authorize": "Authorized", "AuthorizeWithCapture": "Captured"}),
    "4354": ("ok", 202, {"Authorize": "Declined", "AuthorizeWithCapture": "Declined"}),
    "0002": ("repick", 200, {"Authorize": "Authorized", "AuthorizeWithCapture": "Captured"}),
    "3434": ("canceled", None, "Declined"),
    "3064": ("canceled", None, "BuyerCanceled"),
}


@pytest.mark.parametrize("intent", ["Authorize", "AuthorizeWithCapture", "Confirm"])
@pytest.mark.parametrize("instrument", list(OUTCOMES))
def test_full_buyer_flow(emulator_app, browser, client, config, intent, instrument):
    confirm_effect, complete_status, expected = OUTCOMES[instrument]
    # 1. button -> sign-in -> approval -> checkoutReviewReturnUrl
    review = approve(browser, sign_in(browser, config), instrument=instrument)
    assert review.startswith(REVIEW_URL + "?amazonCheckoutSessionId=")
    session_id = session_id_from(review)
    session = client.get_checkout_session(session_id)
    assert session.state is CheckoutSessionState.OPEN and session.buyer.email == "buyer@example.com"
    assert session.payment_descriptor == f"Visa ****{instrument}"
    # 2. the merchant's Update gives the amazonPayRedirectUrl
    session = client.update_checkout_session(session_id, payment_update(intent, pending=True))
    redirect_url = session.amazon_pay_redirect_url
    assert redirect_url == f"http://pay-api.test/_emulator/buyer/confirm/{session_id}"
    # 3. the buyer follows it
    response = browser.get(redirect_url)
    if confirm_effect == "repick":
        assert response.status == 200 and 'id="amazonpay-error"' in response.text
        with pytest.raises(InvalidStateError):
            client.complete_checkout_session(session_id, USD("100.00"))
        response = browser.post_form(f"/_emulator/buyer/confirm/{session_id}", {"instrument": "1111"})
    assert response.status == 302
    assert response.location == f"{RESULT_URL}?amazonCheckoutSessionId={session_id}"
    # 4. Complete
    if confirm_effect == "canceled":
        with pytest.raises(InvalidStateError) as info:
            client.complete_checkout_session(session_id, USD("100.00"))
        assert (info.value.http_status, info.value.reason_code) == (400, "CheckoutSessionCanceled")
        canceled = client.get_checkout_session(session_id)
        assert canceled.state is CheckoutSessionState.CANCELED and canceled.status.reason_code == expected
        return
    response = client.request("CompleteCheckoutSession", "POST", f"/checkoutSessions/{session_id}/complete",
                              body={"chargeAmount": {"amount": "100.00", "currencyCode": "USD"}})
    assert response.data["statusDetails"]["state"] == "Completed"
    if intent == "Confirm":
        assert response.status == 200 and response.data["chargeId"] is None
        return
    assert response.status == complete_status
    charge_id = response.data["chargeId"]
    if complete_status == 202:
        assert client.get_charge(charge_id).state is ChargeState.AUTHORIZATION_INITIATED
        emulator_app.advance_clock(30)
    assert client.get_charge(charge_id).state.value == expected[intent]


def test_pending_decline_card_without_pending_support_cancels_at_confirmation(browser, client, config):
    session_id = session_id_from(approve(browser, sign_in(browser, config), instrument="4354"))
    session = client.update_checkout_session(session_id, payment_update("Authorize", pending=False))
    assert browser.get(session.amazon_pay_redirect_url).status == 302
    canceled = client.get_checkout_session(session_id)
    assert canceled.state is CheckoutSessionState.CANCELED and canceled.status.reason_code == "Declined"


def test_signin_by_get_with_query_parameters(browser, config):
    from urllib.parse import urlencode

    response = browser.get("/_emulator/buyer/signin?" + urlencode(button_config(config)))
    assert response.status == 303 and "/_emulator/buyer/approve?checkoutSessionId=" in response.location


def test_v1_algorithm_is_the_default(browser, config):
    signer = RequestSigner(load_private_key(config.private_key), config.public_key_id, SignatureAlgorithm.RSASSA_PSS)
    payload = {"storeId": config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": REVIEW_URL}}
    signed = signer.sign_button_payload(payload)
    fields = {"payloadJSON": signed.payload_json, "signature": signed.signature, "publicKeyId": config.public_key_id}
    assert browser.post_form("/_emulator/buyer/signin", fields).status == 303


def test_php_style_escaped_payload(browser, config):
    # PHP signs stripcslashes($payload) while the browser holds json_encode's "https:\/\/".
    escaped = json.dumps({"storeId": config.store_id,
                          "webCheckoutDetails": {"checkoutReviewReturnUrl": REVIEW_URL}}).replace("/", "\\/")
    signature = config.signer.sign_button_payload(escaped.replace("\\/", "/")).signature
    fields = {"payloadJSON": escaped, "signature": signature, "publicKeyId": config.public_key_id,
              "algorithm": config.algorithm.value}
    assert browser.post_form("/_emulator/buyer/signin", fields).status == 303


@pytest.mark.parametrize("tamper", ["signature", "payload", "key", "merchant", "store", "ledger", "algorithm",
                                    "missing", "json"])
def test_signin_rejections_show_an_error_page(browser, config, tamper):
    fields = button_config(config)
    if tamper == "signature":
        fields["signature"] = fields["signature"][:-8] + "AAAAAAA="
    elif tamper == "payload":
        fields["payloadJSON"] = fields["payloadJSON"].replace(REVIEW_URL, "https://evil.test/")
    elif tamper == "key":
        fields["publicKeyId"] = "SANDBOX-NOSUCHKEY"
    elif tamper == "merchant":
        fields["merchantId"] = "AOTHERMERCHANT"
    elif tamper == "store":
        payload = {"storeId": "amzn1.application-oa2-client.other",
                   "webCheckoutDetails": {"checkoutReviewReturnUrl": REVIEW_URL}}
        fields = button_config(config, payload)
    elif tamper == "ledger":
        fields["ledgerCurrency"] = "JPY"
    elif tamper == "algorithm":
        fields["algorithm"] = "AMZN-PAY-RSASSA-PSS"  # signed with V2
    elif tamper == "missing":
        del fields["signature"]
    elif tamper == "json":
        fields = button_config(config, "{not json")
    response = browser.post_form("/_emulator/buyer/signin", fields)
    assert response.status == 400
    assert 'id="amazonpay-error"' in response.text


def test_process_order_goes_straight_to_the_result(emulator_app, browser, client, config):
    payload = {
        "storeId": config.store_id,
        "webCheckoutDetails": {"checkoutMode": "ProcessOrder", "checkoutResultReturnUrl": RESULT_URL},
        "paymentDetails": {"paymentIntent": "AuthorizeWithCapture",
                           "chargeAmount": {"amount": "42.00", "currencyCode": "USD"}},
        "addressDetails": {"name": "Ship To", "addressLine1": "1 Main St", "city": "Seattle",
                           "stateOrRegion": "WA", "postalCode": "98101", "countryCode": "US",
                           "phoneNumber": "555"},
    }
    result = approve(browser, sign_in(browser, config, payload=payload))
    assert result.startswith(RESULT_URL + "?amazonCheckoutSessionId=")
    session_id = session_id_from(result)
    assert client.get_checkout_session(session_id).shipping_address.name == "Ship To"
    done = client.complete_checkout_session(session_id, USD("42.00"))
    assert client.get_charge(done.charge_id).state is ChargeState.CAPTURED
    cp = client.get_charge_permission(done.charge_permission_id)
    assert cp.shipping_address.address_line1 == "1 Main St"


def test_process_order_hard_decline(browser, client, config):
    payload = {"storeId": config.store_id,
               "webCheckoutDetails": {"checkoutMode": "ProcessOrder", "checkoutResultReturnUrl": RESULT_URL},
               "paymentDetails": {"paymentIntent": "Authorize", "chargeAmount": {"amount": "1.00",
                                                                                 "currencyCode": "USD"}}}
    result = approve(browser, sign_in(browser, config, payload=payload), instrument="3434")
    assert client.get_checkout_session(session_id_from(result)).state is CheckoutSessionState.CANCELED


def test_json_shortcuts(emulator_app, browser, client):
    session = create_session(client)
    sid = session.checkout_session_id
    answer = browser.post_json("/_emulator/buyer/approve",
                               {"checkoutSessionId": sid, "address": "JP", "instrument": "1111"})
    assert answer.status == 200
    assert answer.json() == {"checkoutSessionId": sid, "outcome": "review",
                             "redirectUrl": f"{REVIEW_URL}?amazonCheckoutSessionId={sid}"}
    client.update_checkout_session(sid, payment_update())
    answer = browser.post_json(f"/_emulator/buyer/confirm/{sid}", {})
    assert answer.json()["outcome"] == "confirmed"
    assert answer.json()["redirectUrl"] == f"{RESULT_URL}?amazonCheckoutSessionId={sid}"
    assert client.get_checkout_session(sid).shipping_address.country_code == "JP"


def test_json_errors(browser, client):
    answer = browser.post_json("/_emulator/buyer/approve", {"checkoutSessionId": "nope"})
    assert answer.status == 404 and answer.json()["reasonCode"] == "ResourceNotFound"
    session = create_session(client)
    answer = browser.post_json("/_emulator/buyer/approve",
                               {"checkoutSessionId": session.checkout_session_id, "instrument": "9999"})
    assert answer.status == 400 and answer.json()["reasonCode"] == "InvalidParameterValue"
    answer = browser.post_json("/_emulator/buyer/approve",
                               {"checkoutSessionId": session.checkout_session_id, "address": "FR"})
    assert answer.status == 400


def test_signin_json(browser, config):
    answer = browser.post_json("/_emulator/buyer/signin", button_config(config))
    assert answer.status == 201 and "approveUrl" in answer.json()


def test_cancel_leaves_the_session_open(emulator_app, browser, client):
    session = create_session(client, web={"checkoutCancelUrl": "https://shop.test/cart"})
    response = browser.post_form("/_emulator/buyer/approve", {"checkoutSessionId": session.checkout_session_id,
                                                             "action": "cancel"})
    assert response.status == 302 and response.location == "https://shop.test/cart"
    assert client.get_checkout_session(session.checkout_session_id).state is CheckoutSessionState.OPEN
    plain = create_session(client)
    response = browser.post_form("/_emulator/buyer/approve", {"checkoutSessionId": plain.checkout_session_id,
                                                             "action": "cancel"})
    assert response.status == 200 and 'id="amazonpay-message"' in response.text


def test_api_created_sessions_use_the_same_pages(browser, client):
    session = create_session(client)
    page = browser.get(f"/_emulator/buyer/approve?checkoutSessionId={session.checkout_session_id}")
    assert page.status == 200 and session.checkout_session_id in page.text


def test_change_address_by_approving_again(emulator_app, browser, client):
    session = create_session(client)
    sid = session.checkout_session_id
    emulator_app.buyer_approve(sid, address="US")
    emulator_app.buyer_approve(sid, address="UK")  # amazon.Pay.bindChangeAction brings the buyer back
    assert client.get_checkout_session(sid).shipping_address.country_code == "GB"


def test_pages_for_unknown_or_closed_sessions(emulator_app, browser, client):
    assert browser.get("/_emulator/buyer/approve?checkoutSessionId=nope").status == 404
    assert browser.get("/_emulator/buyer/confirm/nope").status == 404
    session = create_session(client)
    emulator_app.advance_clock(25 * 3600)
    page = browser.get(f"/_emulator/buyer/approve?checkoutSessionId={session.checkout_session_id}")
    assert page.status == 400 and "Canceled" in page.text


def test_confirm_before_update_is_an_error_page(emulator_app, browser, client):
    session = create_session(client)
    emulator_app.buyer_approve(session.checkout_session_id)
    page = browser.get(f"/_emulator/buyer/confirm/{session.checkout_session_id}")
    assert page.status == 400 and "ChargeAmountNotSet" in page.text


def test_full_flow_on_a_real_server(server, server_merchant, server_client):
    config = server_merchant.config
    http = requests.Session()
    script = http.get(f"{server.url}/_emulator/checkout.js")
    assert f'"{server.url}"' in script.text
    signin = http.post(f"{server.url}/_emulator/buyer/signin", data=button_config(config), allow_redirects=False)
    assert signin.status_code == 303
    page = http.get(signin.headers["Location"])
    session_id = re.search(r'id="checkout-session-id" value="([^"]+)"', page.text)[1]
    review = http.post(f"{server.url}/_emulator/buyer/approve", allow_redirects=False,
                       data={"checkoutSessionId": session_id, "address": "US", "instrument": "1111"})
    assert review.status_code == 302 and session_id_from(review.headers["Location"]) == session_id
    session = server_client.update_checkout_session(session_id, payment_update("AuthorizeWithCapture"))
    assert session.amazon_pay_redirect_url.startswith(server.url)
    result = http.get(session.amazon_pay_redirect_url, allow_redirects=False)
    assert result.status_code == 302 and result.headers["Location"].startswith(RESULT_URL)
    done = server_client.complete_checkout_session(session_id, USD("100.00"))
    assert server_client.get_charge(done.charge_id).state is ChargeState.CAPTURED


@pytest.mark.parametrize("path", ["/_emulator/buyer/signin", "/_emulator/buyer/approve",
                                  "/_emulator/buyer/confirm/abc"])
def test_bad_json_on_buyer_endpoints(browser, path):
    for body in (b"{nope", b"[1]"):
        response = browser.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        assert response.status == 400 and response.json()["reasonCode"] == "InvalidRequestFormat"
