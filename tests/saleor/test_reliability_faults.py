"""The fault matrix: every Amazon call the plugin makes x every way it can fail.

Each case drives a real Saleor (GraphQL, Django test client) against the emulator on a
loopback port:

1. run the flow up to the step under test without faults;
2. arm the fault at the emulator (``transient``: the next call only; ``persistent``: every
   call until cleared, i.e. more than the client's retries) and run the step;
3. wait until the emulator finished every request still sleeping on injected latency, then
   check the money invariants (:func:`violations`) on this *intermediate* state;
4. clear the faults; if the step failed, run it again (the buyer's or the staff member's
   retry); check the invariants again and that the step converged.

Faults: ``latency`` beyond the client's read timeout (the call is processed late, after the
client gave up), ``429``, ``500``, ``503``, ``connection-reset`` (nothing processed) and
``drop-response`` (processed and committed, answer lost). Client timeouts and the retry
backoff are shortened for these tests through ``saleor_amazonpay.plugin.clients``.

The benchmark runner (``benchmarks/run.py``) runs this module with ``--run-slow`` (the
transient variant is marked slow) and ``SALEOR_AMAZONPAY_FAULT_REPORT=<file>``, and prints
the table published in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import graphene
import pytest

from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order
from saleor.payment import ChargeStatus, TransactionKind
from saleor.payment.models import Payment

from saleor_amazonpay.core import Timeouts
from saleor_amazonpay.core.retry import RetryPolicy
from saleor_amazonpay.plugin import clients
from saleor_amazonpay.plugin.consts import PLUGIN_ID

pytestmark = pytest.mark.saleor

FAULTS = ("latency", "429", "500", "503", "connection-reset", "drop-response")
PERSISTENCE = {"transient": 1, "persistent": 40}
#: Shortened for the tests: a call answered later than READ_TIMEOUT is a timeout.
TIMEOUTS = Timeouts(connect=2.0, read=0.6)
LATENCY = 1.5
#: Same number of retries as production, with millisecond backoff.
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.04, deadline=30.0)
REPORT_ENV = "SALEOR_AMAZONPAY_FAULT_REPORT"

CAPTURE = """
mutation Capture($id: ID!, $amount: PositiveDecimal) {
  paymentCapture(paymentId: $id, amount: $amount) { payment { chargeStatus } errors { code message } }
}
"""
REFUND = """
mutation Refund($id: ID!, $amount: PositiveDecimal) {
  paymentRefund(paymentId: $id, amount: $amount) { payment { chargeStatus } errors { code message } }
}
"""
VOID = """
mutation Void($id: ID!) { paymentVoid(paymentId: $id) { payment { isActive } errors { code message } } }
"""

LIVE_CHARGE_STATES = {"AuthorizationInitiated", "Authorized", "CaptureInitiated", "Captured"}
HELD_CHARGE_STATES = {"AuthorizationInitiated", "Authorized", "CaptureInitiated"}


@dataclass(frozen=True)
class Target:
    """One Amazon call of one step of the flow."""

    name: str
    step: str  # process | confirm | capture | refund | void
    operation: str
    intent: str = "Authorize"
    #: Faults armed first (fault, operation, count) to reach the call, e.g. a lost Complete
    #: answer so that the plugin reconciles with Get Checkout Session / Get Charge.
    setup_faults: tuple = ()


_LOST_COMPLETE = (("drop-response", "CompleteCheckoutSession", 1),)

TARGETS = (
    Target("checkout: GetCheckoutSession", "process", "GetCheckoutSession"),
    Target("checkout: UpdateCheckoutSession", "process", "UpdateCheckoutSession"),
    Target("checkout: CompleteCheckoutSession", "confirm", "CompleteCheckoutSession"),
    Target("checkout: CompleteCheckoutSession [AuthorizeWithCapture]", "confirm", "CompleteCheckoutSession",
           "AuthorizeWithCapture"),
    Target("checkout: CompleteCheckoutSession [Confirm]", "confirm", "CompleteCheckoutSession", "Confirm"),
    Target("reconciliation: GetCheckoutSession", "confirm", "GetCheckoutSession", setup_faults=_LOST_COMPLETE),
    Target("reconciliation: GetCharge", "confirm", "GetCharge", setup_faults=_LOST_COMPLETE),
    Target("reconciliation: GetCharge [AuthorizeWithCapture]", "confirm", "GetCharge", "AuthorizeWithCapture",
           setup_faults=_LOST_COMPLETE),
    Target("capture: CaptureCharge", "capture", "CaptureCharge"),
    Target("capture: CreateCharge [Confirm]", "capture", "CreateCharge", "Confirm"),
    Target("refund: CreateRefund", "refund", "CreateRefund", "AuthorizeWithCapture"),
    Target("void: CancelCharge", "void", "CancelCharge"),
    Target("void: CloseChargePermission", "void", "CloseChargePermission"),
)

#: The persistent variant (more failures than the client retries: the plugin's own
#: reconciliation and the buyer's/staff's retry must converge) runs by default; the
#: transient one (the client's retries absorb the fault) with ``--run-slow``, as the
#: benchmark runner does.
CASES = [
    pytest.param(target, fault, persistence, id=f"{target.name}|{fault}|{persistence}",
                 marks=[pytest.mark.slow] if persistence == "transient" else [])
    for target in TARGETS
    for fault in FAULTS
    for persistence in PERSISTENCE
]


@dataclass
class CaseReport:
    target: str
    operation: str
    step: str
    fault: str
    persistence: str
    injected: int = 0
    first_attempt: str = ""
    retried: bool = False
    converged: bool = False
    #: Invariants broken while the step had failed and before the retry: Amazon's outcome
    #: was unknown to Saleor (a lost answer / a late call); each converged on the retry.
    intermediate: list = field(default_factory=list)
    violations: list = field(default_factory=list)
    amazon_calls: int = 0
    seconds: float = 0.0


# -- invariants -------------------------------------------------------------------------------


def _money(value) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, dict):
        return Decimal(str(value["amount"]))
    return Decimal(str(value))


def _txns(payment, *kinds):
    return [t for t in payment.transactions.all() if t.is_success and t.kind in kinds]


def violations(objects: dict, *, final: bool) -> "list[str]":
    """The money invariants between this test's Saleor database and its Amazon merchant.

    Always:
      * no order without an authorized / captured / pending payment;
      * no live Amazon charge without an order that records its charge permission, or an
        active payment waiting for confirmation (``to_confirm``) on its checkout session,
        so that the buyer's retry (or reconciliation) converges;
      * every Completed checkout session is recorded the same way;
      * at most one live charge per charge permission (nothing charged twice).
    Money totals (also checked on intermediate states, reported apart there):
      * Amazon's captured total equals Saleor's captured + refunded amounts;
      * Amazon's non-declined refunds equal Saleor's successful refunds;
      * a payment Saleor voided holds no money at Amazon.
    ``final``: ids of completed sessions must be stored on an order's payment (no pending
    ``to_confirm`` allowed any more).
    """
    problems: list[str] = []
    payments = list(Payment.objects.filter(gateway=PLUGIN_ID).prefetch_related("transactions"))
    orders = list(Order.objects.all())
    order_payments = [p for p in payments if p.order_id]
    waiting = [p for p in payments if p.is_active and p.to_confirm and not p.order_id]
    recorded_permissions = {p.metadata.get("chargePermissionId") for p in order_payments} - {None}
    waiting_sessions = {p.metadata.get("checkoutSessionId") for p in waiting} - {None}

    for order in orders:
        if not any(_txns(p, TransactionKind.AUTH, TransactionKind.CAPTURE, TransactionKind.PENDING)
                   for p in order_payments if p.order_id == order.pk):
            problems.append(f"order {order.number} has no authorized/captured/pending payment")

    session_of_permission = {s.get("chargePermissionId"): s for s in objects["checkoutSessions"]
                             if s.get("chargePermissionId")}
    for session in objects["checkoutSessions"]:
        if session["statusDetails"]["state"] != "Completed":
            continue
        permission = session.get("chargePermissionId")
        stored = [p for p in order_payments if p.metadata.get("chargePermissionId") == permission]
        if stored:
            if session.get("chargeId") and not any(
                p.metadata.get("chargeId") == session["chargeId"] or _txns(p, TransactionKind.CAPTURE)
                for p in stored
            ):
                problems.append(f"completed session {session['checkoutSessionId']}: chargeId not stored")
        elif final or session["checkoutSessionId"] not in waiting_sessions:
            problems.append(f"completed session {session['checkoutSessionId']} is not recorded on an order"
                            + ("" if final else " nor on a payment waiting for confirmation"))

    live_per_permission: dict[str, int] = {}
    for charge in objects["charges"]:
        state = charge["statusDetails"]["state"]
        if state not in LIVE_CHARGE_STATES:
            continue
        permission = charge["chargePermissionId"]
        live_per_permission[permission] = live_per_permission.get(permission, 0) + 1
        if permission in recorded_permissions:
            continue
        session = session_of_permission.get(permission)
        if not final and session and session["checkoutSessionId"] in waiting_sessions:
            continue
        problems.append(f"{state} charge {charge['chargeId']} has no order (nor a payment waiting for confirmation)")
    for permission, count in live_per_permission.items():
        if count > 1:
            problems.append(f"{count} live charges on charge permission {permission}")

    def awaiting_confirmation(charge) -> bool:
        # Amazon completed, Saleor has not recorded it yet: the payment waiting for
        # confirmation is the reconciliation record (checked above); the buyer's retry
        # records the money.
        session = session_of_permission.get(charge["chargePermissionId"])
        return (not final and charge["chargePermissionId"] not in recorded_permissions
                and session is not None and session["checkoutSessionId"] in waiting_sessions)

    amazon_captured = sum((_money(c["captureAmount"]) for c in objects["charges"]
                           if c["statusDetails"]["state"] == "Captured" and not awaiting_confirmation(c)),
                          Decimal(0))
    saleor_refunded = sum((_money(t.amount) for p in payments for t in _txns(p, TransactionKind.REFUND)),
                          Decimal(0))
    saleor_captured = sum((p.captured_amount for p in payments), Decimal(0)) + saleor_refunded
    if amazon_captured != saleor_captured:
        problems.append(f"captured: Amazon {amazon_captured} != Saleor {saleor_captured}")
    amazon_refunded = sum((_money(r["refundAmount"]) for r in objects["refunds"]
                           if r["statusDetails"]["state"] != "Declined"), Decimal(0))
    if amazon_refunded != saleor_refunded:
        problems.append(f"refunded: Amazon {amazon_refunded} != Saleor {saleor_refunded}")
    for payment in payments:
        if not _txns(payment, TransactionKind.VOID):
            continue
        permission = payment.metadata.get("chargePermissionId")
        held = [c["chargeId"] for c in objects["charges"]
                if c["chargePermissionId"] == permission and c["statusDetails"]["state"] in HELD_CHARGE_STATES]
        if held:
            problems.append(f"voided payment {payment.pk} still holds money at Amazon: {held}")
    return problems


# -- driving the flow -------------------------------------------------------------------------


def _gql(client, query, variables, name):
    return get_graphql_content(client.post_graphql(query, variables))["data"][name]


def _payment_gid(payment) -> str:
    return graphene.Node.to_global_id("Payment", payment.pk)


class Flow:
    def __init__(self, amazonpay, staff_client, checkout, emulator):
        self.amazonpay = amazonpay
        self.staff = staff_client
        self.checkout = checkout
        self.app = emulator.app
        self.session_id: "str | None" = None
        self.returned: "str | None" = None
        self.payment = None

    # steps: each returns True when Saleor reports success
    def start(self) -> None:
        self.session_id = self.amazonpay.buyer_signs_in(self.checkout)
        created = self.amazonpay.payment_create(self.checkout, self.session_id)
        assert not created["errors"], created["errors"]

    def process(self) -> bool:
        first = self.amazonpay.complete(self.checkout)
        if first.errors or not first.data["confirmationNeeded"]:
            return False
        self.returned = self.amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
        return True

    def confirm(self) -> bool:
        result = self.amazonpay.complete(self.checkout, {"amazonCheckoutSessionId": self.returned})
        if result.order is None:
            return False
        self.payment = Order.objects.get(number=result.order["number"]).payments.get()
        return True

    def _staff(self, query, name) -> bool:
        data = _gql(self.staff, query, {"id": _payment_gid(self.payment)}, name)
        self.payment.refresh_from_db()
        return not data["errors"]

    def capture(self) -> bool:
        return self._staff(CAPTURE, "paymentCapture")

    def refund(self) -> bool:
        return self._staff(REFUND, "paymentRefund")

    def void(self) -> bool:
        return self._staff(VOID, "paymentVoid")

    def converged(self, step: str) -> "list[str]":
        """What the step must have achieved once it succeeded."""
        objects = self.amazonpay.objects()
        problems = []
        orders = list(Order.objects.all())
        if step in ("process", "confirm"):
            if len(orders) != 1:
                return [f"{len(orders)} orders instead of 1"]
            payment = orders[0].payments.get()
            live = [c for c in objects["charges"] if c["statusDetails"]["state"] in LIVE_CHARGE_STATES]
            intent = json.loads(payment.private_metadata.get("amazonpay", "{}") or "{}").get("paymentIntent")
            expected = 0 if intent == "Confirm" else 1
            if len(live) != expected:
                problems.append(f"{len(live)} live charges instead of {expected}")
            if intent == "AuthorizeWithCapture" and payment.charge_status != ChargeStatus.FULLY_CHARGED:
                problems.append(f"payment is {payment.charge_status}, Amazon captured")
            if not payment.metadata.get("chargePermissionId"):
                problems.append("chargePermissionId not stored")
        elif step == "capture":
            if self.payment.charge_status != ChargeStatus.FULLY_CHARGED:
                problems.append(f"payment is {self.payment.charge_status} after the capture")
        elif step == "refund":
            if self.payment.charge_status != ChargeStatus.FULLY_REFUNDED:
                problems.append(f"payment is {self.payment.charge_status} after the refund")
        elif step == "void":
            if self.payment.is_active:
                problems.append("payment still active after the void")
            permissions = [p for p in objects["chargePermissions"]
                           if p["chargePermissionId"] == self.payment.metadata.get("chargePermissionId")]
            if not permissions or permissions[0]["statusDetails"]["state"] != "Closed":
                problems.append("charge permission not closed after the void")
        return problems


def _drain_latency(app, baseline: set, expected: int, timeout: float = 20.0) -> None:
    """Wait until every request the emulator delayed has been processed (it was answered
    to nobody: the client had timed out), so the invariants see Amazon's final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sum(1 for r in app.request_log() if r.request_id not in baseline and r.fault == "latency")
        if done >= expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"the emulator did not finish {expected} delayed requests in {timeout}s")


def run_case(amazonpay, staff_client, checkout, emulator, target: Target, fault: str, persistence: str) -> CaseReport:
    report = CaseReport(target.name, target.operation, target.step, fault, persistence)
    started = time.monotonic()
    app = emulator.app
    amazonpay.configure(payment_intent=target.intent)
    flow = Flow(amazonpay, staff_client, checkout, emulator)
    steps = ["process", "confirm", "capture", "refund", "void"]
    path = {"process": ["process"], "confirm": ["process", "confirm"],
            "capture": ["process", "confirm", "capture"], "refund": ["process", "confirm", "refund"],
            "void": ["process", "confirm", "void"]}[target.step]
    assert target.step in steps
    flow.start()
    for step in path[:-1]:
        assert getattr(flow, step)(), f"setup step {step} failed"

    amazonpay.calls.clear()
    baseline = {r.request_id for r in app.request_log()}
    for extra_fault, operation, count in target.setup_faults:
        app.add_fault(extra_fault, operation, count=count)
    count = PERSISTENCE[persistence]
    rule = app.add_fault(fault, target.operation, latency=LATENCY if fault == "latency" else 0.0, count=count)
    ok = getattr(flow, target.step)()
    report.injected = count - rule.count
    if fault == "latency":
        _drain_latency(app, baseline, report.injected)
    app.faults.clear()
    report.first_attempt = "ok" if ok else "failed"

    intermediate = violations(amazonpay.objects(), final=False)
    if ok:
        report.violations += intermediate
    else:
        report.intermediate = intermediate
        report.retried = True
        if not getattr(flow, target.step)():
            report.violations.append(f"the retry of {target.step} failed after the faults were cleared")
    if target.step == "process" and not report.violations:
        # The checkout is not finished yet: the buyer returns from Amazon and confirms.
        if not flow.confirm():
            report.violations.append("checkoutComplete after the buyer's return failed")
    report.violations += violations(amazonpay.objects(), final=True)
    if not report.violations:
        problems = flow.converged(target.step)
        report.violations += problems
    report.converged = not report.violations
    report.amazon_calls = len(amazonpay.calls)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _write_report(report: CaseReport) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(report)) + "\n")


@pytest.fixture
def fast_client(amazonpay):
    clients.timeouts, clients.retry_policy = TIMEOUTS, FAST_RETRY
    clients.reset()
    yield amazonpay
    clients.timeouts = clients.retry_policy = None
    clients.reset()


@pytest.mark.parametrize(("target", "fault", "persistence"), CASES)
def test_fault_matrix(fast_client, staff_client, checkout_with_item_and_shipping, emulator, target, fault,
                      persistence):
    report = run_case(fast_client, staff_client, checkout_with_item_and_shipping, emulator, target, fault,
                      persistence)
    _write_report(report)
    assert report.injected >= 1, "the fault never fired: the call under test was not made"
    assert report.violations == [], report


def test_invariants_hold_on_the_happy_path(fast_client, staff_client, checkout_with_item_and_shipping, emulator):
    flow = Flow(fast_client, staff_client, checkout_with_item_and_shipping, emulator)
    flow.start()
    assert flow.process() and flow.confirm() and flow.capture() and flow.refund()
    assert violations(fast_client.objects(), final=True) == []
