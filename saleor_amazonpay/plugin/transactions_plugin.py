"""AmazonPayTransactionsPlugin: Amazon Pay for Saleor's Transactions API, in-process.

Why a second, *global* plugin (verified on Saleor 3.23):

* Saleor resolves ``paymentGateway.id`` only as an ``App.identifier``; the App identity
  ``saleor.payments.amazonpay`` is registered by ``python manage.py amazonpay_install_app``
  (see ``app_identity``).
* The session hooks (``payment_gateway_initialize_session``,
  ``transaction_initialize_session``, ``transaction_process_session``) run on every active
  plugin of the channel, per-channel plugins first and global plugins after them, in
  ``settings.PLUGINS`` order. Saleor's global ``WebhookPlugin`` (a built-in, so earlier in
  that order) ignores ``previous_value`` and answers "no webhook" for apps without
  webhooks. A per-channel plugin's answer is therefore always overwritten; a global plugin
  registered after the built-ins has the last word.

So this plugin is global (``CONFIGURATION_PER_CHANNEL = False``), active by default and
hidden from the dashboard; it reads the channel's Amazon Pay configuration (the
``AmazonPayGatewayPlugin`` row of that channel, only when active). It answers only for
Amazon Pay's identifier and returns ``previous_value`` for every other gateway, and acts on
``transaction_*_requested`` only for TransactionItems whose ``app_identifier`` is Amazon
Pay's. The Amazon Pay logic lives in ``transactions.py``.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from saleor.payment.interface import PaymentGatewayData, TransactionSessionResult
from saleor.plugins.base_plugin import BasePlugin

from ..core import AmazonPayError
from . import app_identity, transactions
from .consts import PLUGIN_ID
from .session_flow import PaymentRefused

logger = logging.getLogger("saleor_amazonpay.transactions")

TRANSACTIONS_PLUGIN_ID = "saleor.payments.amazonpay.transactions"


def _ours(gateway_data) -> bool:
    return getattr(gateway_data, "app_identifier", None) == PLUGIN_ID


def _session_error(session_data, message: str) -> TransactionSessionResult:
    """A failed session Saleor records as *_FAILURE with ``message`` (no Amazon call made)."""
    prefix = transactions.prefix_for_action(session_data.action.action_type)
    return TransactionSessionResult(app_identifier=PLUGIN_ID, response={
        "result": f"{prefix}_FAILURE", "amount": str(session_data.action.amount), "message": message,
        "data": {"error": message}})


class AmazonPayTransactionsPlugin(BasePlugin):
    PLUGIN_ID = TRANSACTIONS_PLUGIN_ID
    PLUGIN_NAME = "Amazon Pay (Transactions API)"
    PLUGIN_DESCRIPTION = (
        "Serves Amazon Pay for Saleor's Transactions API (paymentGatewayInitialize, transactionInitialize, "
        "transactionProcess, transactionRequestAction) using each channel's Amazon Pay configuration. "
        "Needs the app identity installed with `python manage.py amazonpay_install_app`."
    )
    CONFIGURATION_PER_CHANNEL = False
    DEFAULT_ACTIVE = True
    HIDDEN = True
    DEFAULT_CONFIGURATION: list = []
    CONFIG_STRUCTURE: dict = {}

    # -- paymentGatewayInitialize -----------------------------------------------------------

    def payment_gateway_initialize_session(self, amount, payment_gateways, source_object, previous_value):
        if not self.active:
            return previous_value
        requested = [g for g in (payment_gateways or []) if _ours(g)]
        if payment_gateways and not requested:
            return previous_value  # the storefront asked for other gateways only
        settings = transactions.channel_settings(getattr(source_object, "channel", None))
        if not requested and (settings is None or not app_identity.is_installed()):
            # All gateways asked for: offer Amazon Pay only where it can be used.
            if settings is not None:
                # Legacy-flow shops never install the identity: say it once, not per request.
                app_identity.report_missing("paymentGatewayInitialize (all gateways)", once=True)
            return previous_value
        result = [g for g in (previous_value or []) if not _ours(g)]
        result.append(self._gateway_data(settings, source_object, amount))
        return result

    def _gateway_data(self, settings, source_object, amount) -> PaymentGatewayData:
        if settings is None:
            return PaymentGatewayData(app_identifier=PLUGIN_ID, error=(
                f"Amazon Pay is not active in channel {source_object.channel.slug}."))
        if not app_identity.is_installed():
            app_identity.report_missing("paymentGatewayInitialize")
            return PaymentGatewayData(app_identifier=PLUGIN_ID, error=app_identity.MISSING_APP_MESSAGE)
        try:
            data = transactions.gateway_config(settings, source_object, Decimal(str(amount)))
        except PaymentRefused as refused:
            logger.warning("Amazon Pay paymentGatewayInitialize refused: %s", refused.merchant_reason)
            return PaymentGatewayData(app_identifier=PLUGIN_ID, error=f"Amazon Pay: {refused.merchant_reason}")
        except AmazonPayError as error:  # e.g. a private key that cannot sign
            logger.error("Amazon Pay is misconfigured for channel %s: %s", source_object.channel.slug, error)
            return PaymentGatewayData(app_identifier=PLUGIN_ID, error="Amazon Pay is not available.")
        except Exception:  # noqa: BLE001 - never break paymentGatewayInitialize for other gateways
            logger.exception("Amazon Pay paymentGatewayInitialize crashed")
            return PaymentGatewayData(app_identifier=PLUGIN_ID, error="Amazon Pay is not available.")
        return PaymentGatewayData(app_identifier=PLUGIN_ID, data=data)

    # -- transactionInitialize / transactionProcess --------------------------------------------

    def transaction_initialize_session(self, transaction_session_data, previous_value):
        if not self.active or not _ours(transaction_session_data.payment_gateway_data):
            return previous_value
        return self._session(transactions.initialize, transaction_session_data, "transactionInitialize")

    def transaction_process_session(self, transaction_session_data, previous_value):
        if not self.active or not _ours(transaction_session_data.payment_gateway_data):
            return previous_value
        return self._session(transactions.process, transaction_session_data, "transactionProcess")

    def _session(self, operation, session_data, name: str) -> TransactionSessionResult:
        channel = session_data.source_object.channel
        settings = transactions.channel_settings(channel)
        if settings is None:
            logger.error("Amazon Pay %s for channel %s: Amazon Pay is not active in this channel", name, channel.slug)
            return _session_error(session_data, "Amazon Pay is not available in this channel.")
        try:
            response = operation(settings, session_data)
        except Exception:  # noqa: BLE001 - a failed result lets the buyer retry; an exception would not
            logger.exception("Amazon Pay %s crashed for transaction %s", name, session_data.transaction.token)
            from ..core import BUYER_MESSAGE

            return _session_error(session_data, BUYER_MESSAGE)
        return TransactionSessionResult(app_identifier=PLUGIN_ID, response=response)

    # -- transactionRequestAction / granted refunds ---------------------------------------------
    # Saleor delivers these to every plugin that defines them: act only on Amazon Pay's items.

    def transaction_charge_requested(self, transaction_action_data, previous_value):
        return self._action("charge", transaction_action_data, previous_value)

    def transaction_refund_requested(self, transaction_action_data, previous_value):
        return self._action("refund", transaction_action_data, previous_value)

    def transaction_cancelation_requested(self, transaction_action_data, previous_value):
        return self._action("cancel", transaction_action_data, previous_value)

    def _action(self, kind: str, transaction_action_data, previous_value):
        if not self.active or getattr(transaction_action_data.transaction, "app_identifier", None) != PLUGIN_ID:
            return previous_value
        transactions.handle_action(kind, transaction_action_data)
        return previous_value
