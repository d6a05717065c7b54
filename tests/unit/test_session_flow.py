"""The Complete step shared by the legacy and the Transactions API flows (no Saleor needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saleor_amazonpay.core import (
    Charge,
    CheckoutSession,
    InvalidStateError,
    Price,
    ResponseTimeout,
    ServerError,
)
from saleor_amazonpay.plugin import session_flow
from saleor_amazonpay.plugin.settings import ChannelSettings
from saleor_amazonpay.plugin.transactions import amazon_intent

pytestmark = pytest.mark.unit

AMOUNT = Price.of("40.00", "USD")


def _session(state: str, *, charge_id: "str | None" = "S01-1-1-C1", pending: bool = False) -> CheckoutSession:
    session = CheckoutSession.from_api({
        "checkoutSessionId": "sess-12345678", "statusDetails": {"state": state, "reasonCode": None},
        "chargePermissionId": "S01-1-1" if state == "Completed" else None,
        "chargeId": charge_id if state == "Completed" else None,
    })
    return replace(session, authorization_pending=pending)


class FakeClient:
    def __init__(self, *, complete=None, reads=(), charge_state="Authorized"):
        self.complete_results = list(complete or [])
        self.reads = list(reads)
        self.charge_state = charge_state
        self.calls: list[str] = []

    def _next(self, results):
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def complete_checkout_session(self, session_id, amount):
        self.calls.append("Complete")
        return self._next(self.complete_results)

    def get_checkout_session(self, session_id):
        self.calls.append("GetSession")
        return self._next(self.reads)

    def get_charge(self, charge_id):
        self.calls.append("GetCharge")
        return Charge.from_api({"chargeId": charge_id, "statusDetails": {"state": self.charge_state}})


def test_complete_once_and_report_what_the_intent_did():
    client = FakeClient(complete=[_session("Completed")])
    done = session_flow.complete_session(client, "sess-12345678", AMOUNT, "AuthorizeWithCapture")
    assert (done.state, done.reference, done.converged) == (session_flow.CAPTURED, "S01-1-1-C1", False)
    assert client.calls == ["Complete"]


def test_confirm_references_the_charge_permission():
    client = FakeClient(complete=[_session("Completed", charge_id=None)])
    done = session_flow.complete_session(client, "sess-12345678", AMOUNT, "Confirm")
    assert done.state == session_flow.CONFIRMED and done.reference == "S01-1-1" and done.charge_id is None


def test_pending_authorization():
    client = FakeClient(complete=[_session("Completed", pending=True)])
    assert session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize").state == session_flow.PENDING


def test_lost_answer_converges_on_the_completed_session_without_a_second_complete():
    client = FakeClient(complete=[ResponseTimeout("lost")], reads=[_session("Completed")], charge_state="Captured")
    done = session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")
    assert done.converged and done.state == session_flow.CAPTURED
    assert client.calls == ["Complete", "GetSession", "GetCharge"]


def test_a_failure_before_processing_is_completed_once_more():
    client = FakeClient(complete=[ServerError("503"), _session("Completed")], reads=[_session("Open")])
    done = session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")
    assert done.state == session_flow.AUTHORIZED and client.calls == ["Complete", "GetSession", "Complete"]


def test_refused_complete_on_an_open_session_means_the_buyer_has_not_confirmed():
    client = FakeClient(complete=[InvalidStateError("not confirmed")], reads=[_session("Open")])
    with pytest.raises(session_flow.SessionStillOpen) as raised:
        session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")
    assert raised.value.session.state.value == "Open"


def test_unreadable_session_after_a_lost_answer_stays_uncertain():
    client = FakeClient(complete=[ResponseTimeout("lost")], reads=[ServerError("503")])
    with pytest.raises(session_flow.UNCERTAIN_ERRORS):
        session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")


def test_reconcile_first_reads_before_any_complete():
    client = FakeClient(reads=[_session("Completed")])
    done = session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize", reconcile_first=True)
    assert done.converged and client.calls == ["GetSession", "GetCharge"]


def test_canceled_session_is_refused():
    client = FakeClient(complete=[InvalidStateError("canceled")], reads=[_session("Canceled")])
    with pytest.raises(InvalidStateError):
        session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")


def test_declined_charge_after_convergence():
    client = FakeClient(complete=[ResponseTimeout("lost")], reads=[_session("Completed")], charge_state="Declined")
    with pytest.raises(session_flow.Declined):
        session_flow.complete_session(client, "sess-12345678", AMOUNT, "Authorize")


@pytest.mark.parametrize(("action", "configured", "expected"), [
    ("charge", "Authorize", "AuthorizeWithCapture"),
    ("charge", "Confirm", "AuthorizeWithCapture"),
    ("authorization", "AuthorizeWithCapture", "Authorize"),
    ("authorization", "Authorize", "Authorize"),
    ("authorization", "Confirm", "Confirm"),
])
def test_saleors_action_decides_amazons_intent(action, configured, expected):
    assert amazon_intent(ChannelSettings(payment_intent=configured), action) == expected


def test_idempotency_keys_are_deterministic_and_amazon_shaped():
    key = session_flow.idempotency_key("token", "capture", "S01-1-1-C1", "0.000", "40.00")
    assert key == session_flow.idempotency_key("token", "capture", "S01-1-1-C1", "0.000", "40.00")
    assert len(key) == 32 and key.isalnum()
    assert key != session_flow.idempotency_key("token", "charge", "S01-1-1", "0.000", "40.00")


def test_a_capture_without_an_answer_is_read_back():
    class Reader:
        def __init__(self, state, captured):
            self.charge = Charge.from_api({"chargeId": "S01-1-1-C1", "statusDetails": {"state": state},
                                           "captureAmount": {"amount": captured, "currencyCode": "USD"}})

        def get_charge(self, charge_id):
            return self.charge

    lost = ResponseTimeout("lost")
    assert session_flow.captured_anyway(Reader("Captured", "40.00"), "S01-1-1-C1", AMOUNT, lost).charge_id
    with pytest.raises(ResponseTimeout):
        session_flow.captured_anyway(Reader("Authorized", "0.00"), "S01-1-1-C1", AMOUNT, lost)
    with pytest.raises(ResponseTimeout):  # captured, but not this amount: not ours to claim
        session_flow.captured_anyway(Reader("Captured", "10.00"), "S01-1-1-C1", AMOUNT, lost)
