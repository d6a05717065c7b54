"""Delivery trackers: validation, ownership, "tracking codes can only be used once"."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core import InvalidRequestError

from .conftest import make_client, new_merchant
from .helpers import body_of, completed_session, reason


@pytest.fixture
def cp_id(emulator_app, client):
    return completed_session(emulator_app, client, intent="AuthorizeWithCapture").charge_permission_id


def post(raw, body):
    return raw.send("POST", "/deliveryTrackers", body)


def test_post_echoes_the_body_and_is_recorded(emulator_app, client, raw, cp_id):
    body = {"chargePermissionId": cp_id, "deliveryDetails": [{"trackingNumber": "1Z999AA10123456784",
                                                             "carrierCode": "UPS"}]}
    response = post(raw, body)
    assert response.status == 200 and body_of(response) == body
    tracker = client.create_delivery_tracker(cp_id, "794600000000", "FEDEX")
    assert tracker.tracking_number == "794600000000" and tracker.carrier_code == "FEDEX"
    trackers = emulator_app.store.trackers_of(cp_id)
    assert [(t.tracking_number, t.carrier_code) for t in trackers] == [("1Z999AA10123456784", "UPS"),
                                                                       ("794600000000", "FEDEX")]


def test_works_on_a_closed_permission(client, cp_id):
    # AuthorizeWithCapture closed the OneTime permission: shipping comes after that.
    assert client.get_charge_permission(cp_id).state.value == "Closed"
    client.create_delivery_tracker(cp_id, "TRACK1", "DHL")


def test_same_tracker_twice_is_idempotent(raw, cp_id):
    body = {"chargePermissionId": cp_id, "deliveryDetails": [{"trackingNumber": "T1", "carrierCode": "UPS"}]}
    assert post(raw, body).status == 200
    assert post(raw, body).status == 200


def test_tracking_number_reused_on_another_order(emulator_app, client, raw, cp_id):
    other_cp = completed_session(emulator_app, client, intent="Confirm").charge_permission_id
    assert post(raw, {"chargePermissionId": cp_id,
                      "deliveryDetails": [{"trackingNumber": "T1", "carrierCode": "UPS"}]}).status == 200
    response = post(raw, {"chargePermissionId": other_cp,
                          "deliveryDetails": [{"trackingNumber": "T1", "carrierCode": "UPS"}]})
    assert reason(response) == (400, "InvalidParameterValue")
    assert "only be used once" in body_of(response)["message"]
    response = post(raw, {"chargePermissionId": cp_id,
                          "deliveryDetails": [{"trackingNumber": "T1", "carrierCode": "FEDEX"}]})
    assert reason(response) == (400, "InvalidParameterValue")


@pytest.mark.parametrize("details, code", [
    ([], "InvalidParameterValue"),
    ([{"trackingNumber": "A", "carrierCode": "UPS"}, {"trackingNumber": "B", "carrierCode": "UPS"}],
     "InvalidParameterValue"),
    ({"trackingNumber": "A", "carrierCode": "UPS"}, "InvalidInputFormat"),
    (["A"], "InvalidInputFormat"),
    ([{"carrierCode": "UPS"}], "MissingParameterValue"),
    ([{"trackingNumber": "A"}], "MissingParameterValue"),
    ([{"trackingNumber": "   ", "carrierCode": "UPS"}], "InvalidParameterValue"),
    ([{"trackingNumber": "A\nB", "carrierCode": "UPS"}], "InvalidParameterValue"),
    ([{"trackingNumber": "x" * 101, "carrierCode": "UPS"}], "InvalidParameterValue"),
    ([{"trackingNumber": "A", "carrierCode": "ups"}], "InvalidParameterValue"),
    ([{"trackingNumber": "A", "carrierCode": "U"}], "InvalidParameterValue"),
    ([{"trackingNumber": "A", "carrierCode": "UPS", "extra": 1}], "UnrecognizedField"),
])
def test_delivery_details_validation(raw, cp_id, details, code):
    assert reason(post(raw, {"chargePermissionId": cp_id, "deliveryDetails": details})) == (400, code)


def test_missing_delivery_details(raw, cp_id):
    assert reason(post(raw, {"chargePermissionId": cp_id})) == (400, "MissingParameterValue")


@pytest.mark.parametrize("ids", [{}, {"chargePermissionId": "S01-1", "amazonOrderReferenceId": "P01-1"},
                                 {"chargePermissionId": "garbage"}])
def test_reference_validation(raw, ids):
    body = dict(ids, deliveryDetails=[{"trackingNumber": "A", "carrierCode": "UPS"}])
    assert reason(post(raw, body)) == (400, "InvalidParameterValue")


def test_unknown_or_foreign_charge_permission(emulator_app, raw, other_key_pair):
    body = {"chargePermissionId": "S01-0000000-0000000",
            "deliveryDetails": [{"trackingNumber": "A", "carrierCode": "UPS"}]}
    assert reason(post(raw, body)) == (400, "InvalidParameterValue")
    other = make_client(emulator_app, new_merchant(emulator_app, other_key_pair).config)
    foreign = completed_session(emulator_app, other).charge_permission_id
    assert reason(post(raw, dict(body, chargePermissionId=foreign))) == (400, "InvalidParameterValue")


def test_amazon_order_reference_id_unknown(raw):
    body = {"amazonOrderReferenceId": "P01-1234567-1234567",
            "deliveryDetails": [{"trackingNumber": "A", "carrierCode": "UPS"}]}
    assert reason(post(raw, body)) == (400, "InvalidParameterValue")


def test_client_side_error_for_blank_tracking(client, cp_id):
    with pytest.raises(InvalidRequestError):
        client.create_delivery_tracker(cp_id, " ", "UPS")


def test_any_well_formed_carrier_code_is_accepted_by_default(key_pair):
    from saleor_amazonpay.emulator import EmulatorApp

    from .helpers import RawApi

    app = EmulatorApp()
    merchant = new_merchant(app, key_pair)
    client = make_client(app, merchant.config)
    cp = completed_session(app, client).charge_permission_id
    response = RawApi(app, merchant.config).send("POST", "/deliveryTrackers", {
        "chargePermissionId": cp, "deliveryDetails": [{"trackingNumber": "A", "carrierCode": "MY_OWN_CARRIER"}]})
    assert response.status == 200


def test_a_carrier_list_makes_unknown_codes_fail(key_pair, tmp_path):
    from saleor_amazonpay.emulator import EmulatorApp

    from .helpers import RawApi

    carriers = tmp_path / "carriers.csv"
    carriers.write_text("United Parcel Service,UPS\nFedEx,FEDEX\n")
    app = EmulatorApp(carrier_codes=carriers)
    merchant = new_merchant(app, key_pair)
    client = make_client(app, merchant.config)
    cp = completed_session(app, client).charge_permission_id
    api = RawApi(app, merchant.config)
    unknown = api.send("POST", "/deliveryTrackers", {
        "chargePermissionId": cp, "deliveryDetails": [{"trackingNumber": "A1", "carrierCode": "NOT_A_CARRIER"}]})
    assert reason(unknown) == (400, "InvalidParameterValue")
    known = api.send("POST", "/deliveryTrackers", {
        "chargePermissionId": cp, "deliveryDetails": [{"trackingNumber": "A1", "carrierCode": "FEDEX"}]})
    assert known.status == 200
