# TEMPORARY probe (to be deleted): verifies Saleor 3.23 behaviours for the report.
import json
from decimal import Decimal

import graphene
import pytest
from django.core.exceptions import ValidationError

from saleor.payment import TransactionKind
from saleor.payment.interface import GatewayResponse, InitializedPaymentResponse
from saleor.payment.models import Payment
from saleor.plugins.base_plugin import BasePlugin, ConfigurationTypeField
from saleor.plugins.error_codes import PluginErrorCode
from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.plugins.manager import get_plugins_manager
from saleor.plugins.models import PluginConfiguration

CALLS = []
BEHAVIOR = {}


class ProbeGateway(BasePlugin):
    PLUGIN_ID = "probe.gateway"
    PLUGIN_NAME = "Probe"
    DEFAULT_ACTIVE = True
    CONFIGURATION_PER_CHANNEL = True
    DEFAULT_CONFIGURATION = [{"name": "merchant_id", "value": ""}, {"name": "Public Key", "value": ""}]
    CONFIG_STRUCTURE = {
        "merchant_id": {"type": ConfigurationTypeField.STRING, "help_text": "", "label": "m"},
        "Public Key": {"type": ConfigurationTypeField.STRING, "help_text": "", "label": "p"},
    }

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration, **kwargs):
        cfg = {i["name"]: i["value"] for i in plugin_configuration.configuration}
        if cfg.get("merchant_id") == "bad":
            raise ValidationError({
                "merchant_id": ValidationError("Merchant ID invalid", code=PluginErrorCode.INVALID.value),
                "Public Key": ValidationError("Public key required", code=PluginErrorCode.REQUIRED.value),
            })
        if cfg.get("merchant_id") == "plain":
            raise ValidationError("Plain message", code="plugin-misconfigured")
        if cfg.get("merchant_id") == "badcode":
            raise ValidationError({"merchant_id": ValidationError("x", code="my_custom_code")})

    def token_is_required_as_payment_input(self, previous_value):
        return False

    def get_supported_currencies(self, previous_value):
        return ["USD"]

    def get_payment_config(self, previous_value):
        return [{"field": "merchant_id", "value": "M1"}]

    def _resp(self, pi, kind, ok=True, err=None, action=False, data=None, tid="T1"):
        return GatewayResponse(is_success=ok, action_required=action, kind=kind, amount=pi.amount,
                               currency=pi.currency, transaction_id=tid, error=err,
                               action_required_data=data, psp_reference="PSP-" + tid)

    def process_payment(self, payment_information, previous_value):
        CALLS.append(("process", payment_information.token, payment_information.amount, dict(payment_information.data or {}), payment_information.order_id))
        b = BEHAVIOR.get("process", "capture")
        if b == "fail":
            return self._resp(payment_information, TransactionKind.CAPTURE, ok=False, err="Amazon Pay declined: InvalidPaymentMethod")
        if b == "redirect":
            return self._resp(payment_information, TransactionKind.ACTION_TO_CONFIRM, action=True, data={"redirect": "https://x"}, tid="CS-1")
        if b == "pending":
            return self._resp(payment_information, TransactionKind.PENDING, tid="CH-P")
        if b == "raise":
            raise RuntimeError("boom from plugin")
        if b == "auth":
            return self._resp(payment_information, TransactionKind.AUTH, tid="CH-A")
        return self._resp(payment_information, TransactionKind.CAPTURE, tid="CH-1")

    def confirm_payment(self, payment_information, previous_value):
        CALLS.append(("confirm", payment_information.token, payment_information.amount, dict(payment_information.data or {})))
        p = Payment.objects.get(pk=payment_information.payment_id)
        p.store_value_in_metadata({"amazonpay.chargeId": "CH-9"})
        p.store_value_in_private_metadata({"amazonpay.secret": "S"})
        p.save(update_fields=["metadata", "private_metadata"])
        if BEHAVIOR.get("confirm") == "fail":
            return self._resp(payment_information, TransactionKind.CAPTURE, ok=False, err="Confirm declined: AmazonRejected")
        return self._resp(payment_information, TransactionKind.AUTH, tid="CH-9")

    def capture_payment(self, payment_information, previous_value):
        CALLS.append(("capture", payment_information.token, payment_information.amount))
        return self._resp(payment_information, TransactionKind.CAPTURE, tid="CAP-1")

    def refund_payment(self, payment_information, previous_value):
        CALLS.append(("refund", payment_information.token, payment_information.amount))
        return self._resp(payment_information, TransactionKind.REFUND, tid="REF-1")

    def void_payment(self, payment_information, previous_value):
        CALLS.append(("void", payment_information.token, payment_information.amount))
        return self._resp(payment_information, TransactionKind.VOID, tid="VOID-1")

    def initialize_payment(self, payment_data, previous_value, **kwargs):
        CALLS.append(("initialize", payment_data, kwargs))
        return InitializedPaymentResponse(gateway=self.PLUGIN_ID, name=self.PLUGIN_NAME, data={"echo": payment_data})


@pytest.fixture(autouse=True)
def probe(settings, channel_USD):
    settings.PLUGINS = ["test_zz_probe_tmp.ProbeGateway"]
    CALLS.clear(); BEHAVIOR.clear()
    PluginConfiguration.objects.create(identifier=ProbeGateway.PLUGIN_ID, channel=channel_USD, active=True,
                                       configuration=[{"name": "merchant_id", "value": "M1"}])


CREATE = """mutation($id: ID!, $amount: PositiveDecimal) { checkoutPaymentCreate(id: $id, input: {gateway: "probe.gateway", amount: $amount}) {
  payment { id } errors { field code message } } }"""
COMPLETE = """mutation($id: ID!, $pd: JSONString) { checkoutComplete(id: $id, paymentData: $pd) {
  order { id status paymentStatus chargeStatus authorizeStatus payments { id chargeStatus isActive metadata { key value } } }
  confirmationNeeded confirmationData errors { field code message } } }"""


def _id(c):
    return graphene.Node.to_global_id("Checkout", c.pk)


def _total(c):
    m = get_plugins_manager(allow_replica=False)
    lines, _ = fetch_checkout_lines(c)
    return calculate_checkout_total_with_gift_cards(m, fetch_checkout_info(c, lines, m), lines).gross.amount


def test_probe_fail_and_retry(api_client, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    r = api_client.post_graphql(CREATE, {"id": _id(c)}).json()
    print("CREATE", r)
    BEHAVIOR["process"] = "fail"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("COMPLETE-FAIL", json.dumps(r))
    p = Payment.objects.get()
    print("PAYMENT after fail", p.is_active, p.charge_status, p.to_confirm, list(p.transactions.values_list("kind", "is_success", "error", "token")))
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("COMPLETE-FAIL-2", json.dumps(r)["data"] if False else json.dumps(r))
    r = api_client.post_graphql(CREATE, {"id": _id(c), "amount": str(_total(c) + 1)}).json()
    print("CREATE-wrong-amount", r)
    r = api_client.post_graphql(CREATE, {"id": _id(c)}).json()
    print("CREATE-2", r)
    print("PAYMENTS", list(Payment.objects.order_by("pk").values_list("pk", "is_active", "charge_status")))
    BEHAVIOR["process"] = "capture"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("COMPLETE-OK", json.dumps(r))
    print("CALLS", CALLS)


def test_probe_redirect_confirm_fail(api_client, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    api_client.post_graphql(CREATE, {"id": _id(c)})
    BEHAVIOR["process"] = "redirect"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("COMPLETE-1", json.dumps(r))
    BEHAVIOR["confirm"] = "fail"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c), "pd": json.dumps({"amazonCheckoutSessionId": "CS-1"})}).json()
    print("COMPLETE-CONFIRM-FAIL", json.dumps(r))
    p = Payment.objects.get()
    print("PAYMENT after confirm fail", p.is_active, p.charge_status, p.to_confirm, list(p.transactions.values_list("kind", "is_success", "error", "token", "action_required")))
    BEHAVIOR["confirm"] = "ok"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c), "pd": json.dumps({"amazonCheckoutSessionId": "CS-1"})}).json()
    print("COMPLETE-CONFIRM-RETRY", json.dumps(r))
    print("CALLS", CALLS)


def test_probe_redirect_then_new_payment(api_client, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    api_client.post_graphql(CREATE, {"id": _id(c)})
    BEHAVIOR["process"] = "redirect"
    api_client.post_graphql(COMPLETE, {"id": _id(c)})
    BEHAVIOR["confirm"] = "fail"
    api_client.post_graphql(COMPLETE, {"id": _id(c), "pd": json.dumps({"x": 1})})
    r = api_client.post_graphql(CREATE, {"id": _id(c)}).json()
    print("NEW PAYMENT after failed confirm", r)
    print("PAYMENTS", list(Payment.objects.order_by("pk").values_list("pk", "is_active", "charge_status", "to_confirm")))
    BEHAVIOR["process"] = "capture"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("COMPLETE with new payment", json.dumps(r))


def test_probe_pending(api_client, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    api_client.post_graphql(CREATE, {"id": _id(c)})
    BEHAVIOR["process"] = "pending"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)}).json()
    print("PENDING", json.dumps(r))


def test_probe_raise(api_client, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    api_client.post_graphql(CREATE, {"id": _id(c)})
    BEHAVIOR["process"] = "raise"
    r = api_client.post_graphql(COMPLETE, {"id": _id(c)})
    print("RAISE", r.status_code, r.content[:600])
    p = Payment.objects.get()
    print("PAYMENT after raise", p.is_active, p.charge_status, list(p.transactions.values_list("kind", "is_success")))
    from saleor.checkout.models import Checkout
    print("checkout completing_started_at", Checkout.objects.get(pk=c.pk).completing_started_at)


PLUGIN_UPDATE = """mutation($id: ID!, $ch: ID, $cfg: [ConfigurationItemInput!]) { pluginUpdate(id: $id, channelId: $ch, input: {active: true, configuration: $cfg}) {
  plugin { id } errors { field code message } } }"""


def test_probe_plugin_update(staff_api_client, permission_manage_plugins, channel_USD):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    ch = graphene.Node.to_global_id("Channel", channel_USD.pk)
    for v in ["bad", "plain", "badcode"]:
        r = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": "probe.gateway", "ch": ch, "cfg": [{"name": "merchant_id", "value": v}]})
        print("PLUGIN_UPDATE", v, r.json())
    print("configs", list(PluginConfiguration.objects.values_list("configuration", "active")))


INIT = """mutation { paymentInitialize(gateway: "probe.gateway", channel: "%s", paymentData: "{\\"a\\": 1}") { initializedPayment { gateway name data } errors { field code message } } }"""


def test_probe_initialize(api_client, channel_USD):
    r = api_client.post_graphql(INIT % channel_USD.slug).json()
    print("INIT", r, CALLS)
    r = api_client.post_graphql("""mutation { paymentInitialize(gateway: "probe.gateway") { initializedPayment { gateway } errors { field code message } } }""").json()
    print("INIT-nochannel", r)


ORDER_Q = """query($id: ID!) { order(id: $id) { payments { id chargeStatus capturedAmount { amount } metadata { key value } privateMetadata { key value } transactions { kind token amount { amount } isSuccess } } } }"""
CAPTURE = """mutation($id: ID!, $amount: PositiveDecimal) { paymentCapture(paymentId: $id, amount: $amount) { payment { chargeStatus capturedAmount { amount } } errors { field code message } } }"""
REFUND = """mutation($id: ID!, $amount: PositiveDecimal) { paymentRefund(paymentId: $id, amount: $amount) { payment { chargeStatus capturedAmount { amount } } errors { field code message } } }"""
OCAP = """mutation($id: ID!, $amount: PositiveDecimal!) { orderCapture(id: $id, amount: $amount) { order { paymentStatus chargeStatus } errors { field code message } } }"""


def test_probe_capture_refund_metadata(api_client, staff_api_client, permission_manage_orders, permission_manage_payments, checkout_with_item_and_shipping):
    c = checkout_with_item_and_shipping
    api_client.post_graphql(CREATE, {"id": _id(c)})
    BEHAVIOR["process"] = "redirect"
    api_client.post_graphql(COMPLETE, {"id": _id(c)})
    r = api_client.post_graphql(COMPLETE.replace("metadata { key value }", "metadata { key value } privateMetadata { key value }"), {"id": _id(c), "pd": json.dumps({"x": 1})}).json()
    print("ANON COMPLETE with privateMetadata", json.dumps(r))
    p = Payment.objects.get()
    pid = graphene.Node.to_global_id("Payment", p.pk)
    oid = graphene.Node.to_global_id("Order", p.order_id)
    staff_api_client.user.user_permissions.add(permission_manage_orders)
    r = staff_api_client.post_graphql(ORDER_Q, {"id": oid}).json()
    print("STAFF manage_orders ORDER", json.dumps(r))
    amt = str((p.total / 2).quantize(Decimal("0.01")))
    r = staff_api_client.post_graphql(CAPTURE, {"id": pid, "amount": amt}).json()
    print("CAPTURE partial", r)
    r = staff_api_client.post_graphql(CAPTURE, {"id": pid, "amount": amt}).json()
    print("CAPTURE second", r)
    r = staff_api_client.post_graphql(REFUND, {"id": pid, "amount": "1.00"}).json()
    print("REFUND partial", r)
    staff_api_client.user.user_permissions.add(permission_manage_payments)
    r = staff_api_client.post_graphql(ORDER_Q, {"id": oid}).json()
    print("STAFF +handle_payments ORDER", json.dumps(r))
    print("CALLS", CALLS)
