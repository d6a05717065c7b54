"""Names shared by the plugin's modules (no Saleor imports)."""

PLUGIN_ID = "saleor.payments.amazonpay"
PLUGIN_NAME = "Amazon Pay"
PLUGIN_DESCRIPTION = (
    "Amazon Pay Checkout v2: buyers pay with the payment methods and addresses stored in "
    "their Amazon account. Configure it per channel with the keys from Seller Central."
)

#: Public payment metadata keys, named as in Amazon's "Verify & complete checkout" table.
META_CHECKOUT_SESSION_ID = "checkoutSessionId"
META_CHARGE_PERMISSION_ID = "chargePermissionId"
META_CHARGE_ID = "chargeId"

#: Private payment metadata key holding what Amazon keeps only 30 days (buyer, addresses,
#: charge permission details) plus the plugin's own bookkeeping.
PRIVATE_META_KEY = "amazonpay"

#: Fulfillment metadata key a merchant can set to force the delivery tracker carrier code.
FULFILLMENT_CARRIER_META_KEY = "amazonpay.carrierCode"

#: paymentData / paymentInitialize key for the session id Amazon appends to return URLs.
SESSION_ID_PARAM = "amazonCheckoutSessionId"

WEBHOOK_PATH = "/ipn"
