"""The /_emulator admin API and the matching Python API."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core import ChargeState, Price, RefundState, ServerError
from saleor_amazonpay.core.constants import REQUEST_ID_HEADER

from .helpers import completed_session, create_session

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


def test_health(browser):
    response = browser.get("/_emulator/health")
    assert response.status == 200 and response.json()["status"] == "ok"
    assert response.headers[REQUEST_ID_HEADER]


def test_index_lists_endpoints(browser):
    endpoints = browser.get("/_emulator").json()["endpoints"]
    assert "POST /_emulator/clock/advance" in endpoints and "GET /_emulator/objects" in endpoints


def test_objects_and_object_views(emulator_app, browser, client, config):
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture")
    refund = client.create_refund(session.charge_id, USD("1.00"))
    client.create_delivery_tracker(session.charge_permission_id, "TRACK", "UPS")
    objects = browser.get("/_emulator/objects").json()
    assert [o["checkoutSessionId"] for o in objects["checkoutSessions"]] == [session.checkout_session_id]
    assert [o["chargeId"] for o in objects["charges"]] == [session.charge_id]
    assert [o["refundId"] for o in objects["refunds"]] == [refund.refund_id]
    assert objects["deliveryTrackers"][0]["deliveryDetails"][0]["trackingNumber"] == "TRACK"
    assert browser.get("/_emulator/objects?merchantId=OTHER").json()["charges"] == []

    view = browser.get(f"/_emulator/checkoutSessions/{session.checkout_session_id}").json()
    assert view["emulator"] == {"merchantId": config.merchant_id, "environment": "sandbox", "source": "api",
                                "buyerApproved": True, "buyerConfirmed": True, "instrument": "1111"}
    cp = browser.get(f"/_emulator/chargePermissions/{session.charge_permission_id}").json()
    assert cp["emulator"]["chargeIds"] == [session.charge_id]
    assert cp["emulator"]["deliveryTrackers"][0]["deliveryDetails"][0]["carrierCode"] == "UPS"
    charge = browser.get(f"/_emulator/charges/{session.charge_id}").json()
    assert charge["emulator"]["refundIds"] == [refund.refund_id]
    refund_view = browser.get(f"/_emulator/refunds/{refund.refund_id}").json()
    assert refund_view["emulator"]["pending"]["state"] == "Refunded"
    trackers = browser.get(f"/_emulator/deliveryTrackers?chargePermissionId={session.charge_permission_id}").json()
    assert len(trackers["deliveryTrackers"]) == 1
    assert emulator_app.objects()["charges"][0]["chargeId"] == session.charge_id


def test_unknown_object_and_endpoint(browser):
    assert browser.get("/_emulator/charges/nope").json()["reasonCode"] == "ResourceNotFound"
    assert browser.get("/_emulator/nothing").status == 404
    assert browser.request("DELETE", "/_emulator/health").status == 405


def test_clock_advance_and_settle(emulator_app, browser, client):
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture")
    refund = client.create_refund(session.charge_id, USD("1.00"))
    before = browser.get("/_emulator/clock").json()
    answer = browser.post_json("/_emulator/clock/advance", {"seconds": 10})
    assert answer.json()["offsetSeconds"] >= 10 and answer.json()["now"] >= before["now"]
    assert client.get_refund(refund.refund_id).state is RefundState.REFUND_INITIATED
    assert browser.post_json("/_emulator/settle", {}).json() == {"applied": 1}
    assert client.get_refund(refund.refund_id).state is RefundState.REFUNDED
    assert browser.post_json("/_emulator/clock/advance", {"seconds": -1}).status == 400
    assert browser.post_json("/_emulator/clock/advance", {"seconds": "x"}).status == 400


def test_settle_one_charge(emulator_app, browser, client):
    session = completed_session(emulator_app, client, instrument="0701", pending=True)
    assert browser.post_json("/_emulator/settle", {"objectId": "other"}).json() == {"applied": 0}
    browser.post_json("/_emulator/settle", {"objectId": session.charge_id})
    assert client.get_charge(session.charge_id).state is ChargeState.AUTHORIZED


def test_reset(emulator_app, browser, client):
    completed_session(emulator_app, client)
    emulator_app.add_fault("500")
    browser.post_json("/_emulator/clock/advance", {"seconds": 100})
    assert browser.post_json("/_emulator/reset", {}).json() == {"status": "reset"}
    objects = browser.get("/_emulator/objects").json()
    assert all(not items for items in objects.values())
    assert emulator_app.faults.rules == [] and emulator_app.request_log() == []
    assert abs(emulator_app.clock.offset.total_seconds()) < 1
    assert len(emulator_app.registry) == 1  # merchants survive a reset
    create_session(client)


def test_faults_api(emulator_app, browser, config):
    from saleor_amazonpay.core import NO_RETRIES

    from .conftest import make_client

    answer = browser.post_json("/_emulator/faults", {"operation": "GetCheckoutSession", "fault": "503", "count": 2})
    assert answer.status == 201 and answer.json()["count"] == 2
    assert browser.get("/_emulator/faults").json()["faults"][0]["operation"] == "GetCheckoutSession"
    assert browser.post_json("/_emulator/faults", {"fault": "nope"}).status == 400
    assert browser.post_json("/_emulator/faults", {"fault": "500", "operation": "Nope"}).status == 400
    client = make_client(emulator_app, config, retry=NO_RETRIES)
    with pytest.raises(ServerError):
        client.get_checkout_session("x")
    assert browser.request("DELETE", "/_emulator/faults").json() == {"faults": []}


def test_ipn_config_and_deliveries_api(emulator_app, browser, client, config, ipn_receiver):
    answer = browser.post_json("/_emulator/ipn-config", {"merchantId": config.merchant_id, "url": ipn_receiver.url,
                                                         "enabled": False, "signatureVersion": "2"})
    assert answer.json() == {"url": ipn_receiver.url, "enabled": False, "signatureVersion": "2",
                             "merchantId": config.merchant_id}
    shown = browser.get("/_emulator/ipn-config").json()
    assert shown["endpoints"][config.merchant_id]["enabled"] is False
    assert shown["signingCertUrl"] == "http://pay-api.test/_emulator/sns-cert.pem"
    assert browser.post_json("/_emulator/ipn-config", {"merchantId": "NOPE", "url": "x"}).status == 400
    assert browser.post_json("/_emulator/ipn-config", {"signatureVersion": "9"}).status == 400

    completed_session(emulator_app, client)
    deliveries = browser.get("/_emulator/ipn-deliveries").json()["deliveries"]
    assert [d["status"] for d in deliveries] == ["suppressed"]
    delivery_id = deliveries[0]["deliveryId"]
    assert browser.get(f"/_emulator/ipn-deliveries/{delivery_id}").json()["message"]["ObjectType"] == "CHARGE"
    replayed = browser.post_json(f"/_emulator/ipn-deliveries/{delivery_id}/replay", {}).json()
    assert replayed["status"] == "delivered" and len(ipn_receiver.received) == 1
    assert browser.post_json("/_emulator/ipn-deliveries/nope/replay", {}).status == 404


def test_sns_certificate_and_unsubscribe(emulator_app, browser):
    cert = browser.get("/_emulator/sns-cert.pem")
    assert cert.status == 200 and cert.text == emulator_app.ipn.certificate_pem
    assert cert.text.startswith("-----BEGIN CERTIFICATE-----")
    assert browser.get("/_emulator/sns/unsubscribe?SubscriptionArn=x").status == 200


def test_merchants_api(emulator_app, browser, key_pair, config):
    listed = browser.get("/_emulator/merchants").json()["merchants"]
    assert listed[0]["merchantId"] == config.merchant_id and "publicKey" not in listed[0]
    answer = browser.post_json("/_emulator/merchants", {"merchantId": "ANEW", "storeId": "store-new",
                                                        "publicKeyId": "SANDBOX-NEWKEY", "publicKey": key_pair[1],
                                                        "region": "eu"})
    assert answer.status == 201 and emulator_app.registry.get("ANEW").region == "eu"
    assert browser.post_json("/_emulator/merchants", {"merchantId": "X"}).status == 400
    bad = browser.post_json("/_emulator/merchants", {"merchantId": "X", "publicKeyId": "K", "publicKey": "bad"})
    assert bad.status == 400


def test_request_log(emulator_app, browser, client):
    create_session(client)
    log = browser.get("/_emulator/requests").json()["requests"]
    assert log[0]["operation"] == "CreateCheckoutSession" and log[0]["status"] == 201
    assert log[0]["merchantId"] == client.config.merchant_id and len(log[0]["idempotencyKey"]) == 32
    assert log[0]["requestId"] and log[0]["replayed"] is False and log[0]["fault"] is None


def test_admin_rejects_bad_json(browser):
    response = browser.request("POST", "/_emulator/clock/advance", body=b"{x",
                               headers={"Content-Type": "application/json"})
    assert response.status == 400 and response.json()["reasonCode"] == "InvalidRequestFormat"
