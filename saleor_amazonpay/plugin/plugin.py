"""AmazonPayGatewayPlugin: Saleor's view of Amazon Pay, configured per channel.

Thin by design: each hook checks the plugin is active and hands over to ``gateway``,
``button`` or (later hooks) the delivery-tracker and notification modules.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from saleor.payment import PaymentError
from saleor.payment.interface import GatewayResponse, InitializedPaymentResponse, PaymentData
from saleor.plugins.base_plugin import BasePlugin
from saleor.plugins.error_codes import PluginErrorCode

from ..core import AmazonPayError, ConfigError, Price
from . import button, gateway, saleor_data, shipments
from .consts import PLUGIN_DESCRIPTION, PLUGIN_ID, PLUGIN_NAME, SESSION_ID_PARAM
from .settings import FIELDS, ChannelSettings, validate

logger = logging.getLogger("saleor_amazonpay.plugin")


class AmazonPayGatewayPlugin(BasePlugin):
    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = PLUGIN_NAME
    PLUGIN_DESCRIPTION = PLUGIN_DESCRIPTION
    CONFIGURATION_PER_CHANNEL = True
    DEFAULT_ACTIVE = False
    DEFAULT_CONFIGURATION = [{"name": f.name, "value": f.default} for f in FIELDS]
    CONFIG_STRUCTURE = {f.name: {"type": f.type, "help_text": f.help_text, "label": f.label} for f in FIELDS}

    def __init__(self, *, configuration, **kwargs):
        super().__init__(configuration=configuration, **kwargs)
        self.settings = ChannelSettings.from_items(self.configuration)

    # -- configuration ----------------------------------------------------------------

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration, **kwargs):
        if not plugin_configuration.active:
            return
        errors = validate(ChannelSettings.from_items(plugin_configuration.configuration))
        if errors:
            raise ValidationError({
                name: ValidationError(message, code=PluginErrorCode.INVALID.value)
                for name, message in errors.items()
            })

    # -- what the storefront sees -----------------------------------------------------

    def get_supported_currencies(self, previous_value):
        if not self.active:
            return previous_value
        return list(self.settings.currencies)

    def get_payment_config(self, previous_value):
        if not self.active:
            return previous_value
        try:
            options = button.button_options(self.settings, button.standard_payload(self.settings))
        except ConfigError as error:
            # A broken key must not break availablePaymentGateways for every buyer.
            logger.error("Amazon Pay is misconfigured for channel %s: %s", self._channel_slug(), error)
            return []
        config = [{"field": name, "value": value} for name, value in options.items()
                  if name != "createCheckoutSessionConfig"]
        config.append({"field": "createCheckoutSessionConfig",
                       "value": json.dumps(options["createCheckoutSessionConfig"], separators=(",", ":"))})
        config.append({"field": "buttonScriptUrl", "value": self.settings.button_script_url})
        config.append({"field": "paymentIntent", "value": self.settings.payment_intent})
        config.append({"field": "region", "value": self.settings.region})
        return config

    def get_payment_gateways(self, currency, checkout_info, checkout_lines, previous_value):
        # Offer no button at all rather than a button that cannot work.
        gateways = super().get_payment_gateways(currency, checkout_info, checkout_lines, previous_value)
        return [g for g in gateways if g.config]

    def token_is_required_as_payment_input(self, previous_value):
        # The token is Amazon's checkout session id: the plugin cannot work without it.
        return True

    def initialize_payment(self, payment_data, previous_value, **kwargs):
        """``paymentInitialize``: buyer details for the review page, or a per-checkout button."""
        if not self.active:
            return previous_value
        data = payment_data if isinstance(payment_data, dict) else {}
        action = data.get("action") or ("checkoutSessionDetails" if data.get(SESSION_ID_PARAM) else "buttonConfig")
        try:
            if action == "checkoutSessionDetails":
                result = gateway.checkout_session_details(self.settings, str(data.get(SESSION_ID_PARAM) or ""))
            elif action == "buttonConfig":
                result = self._button_for_checkout(data.get("checkoutId"))
            else:
                raise gateway.PaymentRefused(f"unknown action {action!r}; use checkoutSessionDetails or buttonConfig")
        except gateway.PaymentRefused as refused:
            raise PaymentError(refused.merchant_reason) from None
        except AmazonPayError as error:
            logger.warning("Amazon Pay paymentInitialize(%s) failed: %s", action, error)
            raise PaymentError(error.buyer_message) from None
        return InitializedPaymentResponse(gateway=self.PLUGIN_ID, name=self.PLUGIN_NAME, data=result)

    def _button_for_checkout(self, checkout_id: "str | None") -> dict:
        if not checkout_id:
            return button.button_options(self.settings, button.standard_payload(self.settings))
        checkout = saleor_data.checkout_from_id(str(checkout_id))
        if checkout is None or (self.channel and checkout.channel_id != self.channel.id):
            raise gateway.PaymentRefused("checkout not found")
        total, currency = saleor_data.fresh_checkout_total(checkout)
        if currency not in self.settings.currencies:
            raise gateway.PaymentRefused(f"currency {currency} is not enabled for Amazon Pay in this channel")
        amount = Price(Decimal(total), currency)
        address = saleor_data.address_from_saleor(checkout.shipping_address)
        payload = button.process_order_payload(self.settings, amount, str(checkout.token), address)
        return button.button_options(self.settings, payload, amount)

    # -- payment hooks (process_payment must be defined on this class for Saleor to list it)

    def process_payment(self, payment_information: "PaymentData", previous_value) -> "GatewayResponse":
        if not self.active:
            return previous_value
        return gateway.guarded(gateway.process_payment, self.settings, payment_information)

    def confirm_payment(self, payment_information: "PaymentData", previous_value) -> "GatewayResponse":
        if not self.active:
            return previous_value
        return gateway.guarded(gateway.confirm_payment, self.settings, payment_information)

    def capture_payment(self, payment_information: "PaymentData", previous_value) -> "GatewayResponse":
        if not self.active:
            return previous_value
        return gateway.guarded(gateway.capture_payment, self.settings, payment_information)

    def refund_payment(self, payment_information: "PaymentData", previous_value) -> "GatewayResponse":
        if not self.active:
            return previous_value
        return gateway.guarded(gateway.refund_payment, self.settings, payment_information)

    def void_payment(self, payment_information: "PaymentData", previous_value) -> "GatewayResponse":
        if not self.active:
            return previous_value
        return gateway.guarded(gateway.void_payment, self.settings, payment_information)

    def _channel_slug(self) -> str:
        return getattr(self.channel, "slug", "") or ""

    # -- shipments: Delivery Tracker and capture on shipment (see docs/delivery-tracker.md)

    def tracking_number_updated(self, fulfillment, previous_value, **kwargs):
        """``orderFulfill(trackingNumber:)`` and ``fulfillmentUpdateTracking``."""
        if self.active and getattr(fulfillment, "status", None) != "waiting_for_approval":
            # A fulfillment awaiting approval has not shipped: fulfillment_created posts it.
            shipments.schedule_delivery_tracker(self.settings, fulfillment)
        return previous_value

    def fulfillment_created(self, fulfillment, notify_customer=True, previous_value=None, **kwargs):
        """A fulfillment is shipped: created already approved, or approved later."""
        if self.active:
            shipments.schedule_delivery_tracker(self.settings, fulfillment)
            shipments.schedule_capture(self.settings, fulfillment)
        return previous_value

    def fulfillment_metadata_updated(self, fulfillment, previous_value=None, **kwargs):
        """Setting ``amazonpay.carrierCode`` on a fulfillment sends a tracking number left unsent."""
        if self.active:
            shipments.schedule_delivery_tracker(self.settings, fulfillment)
        return previous_value

    # -- notifications (IPN): see docs/notifications.md -------------------------------------

    def webhook(self, request, path, previous_value):
        """``/plugins/channel/<channel-slug>/saleor.payments.amazonpay/ipn``: Amazon Pay IPNs."""
        if not self.active:
            return previous_value
        from django.http import HttpResponseNotFound

        from . import notifications

        if (path or "").strip("/") != notifications.IPN_SUB_PATH:
            return HttpResponseNotFound()
        return notifications.handle(request, self.settings, self._channel_slug())

    def resolve_plugin_configuration(self, request):
        """Fill the read-only ``ipn_url`` field with this channel's notification URL."""
        configuration = super().resolve_plugin_configuration(request)
        slug = self._channel_slug()
        if slug and isinstance(configuration, list):
            from . import notifications

            for item in configuration:
                if item.get("name") == "ipn_url":
                    item["value"] = notifications.ipn_url(slug)
        return configuration
