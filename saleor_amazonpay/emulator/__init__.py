"""A stateful Amazon Pay API v2 (Checkout v2) emulator: stripe-mock, but stateful.

In-process (no sockets)::

    app = EmulatorApp()
    config_kwargs, _ = app.make_test_merchant("sandbox", "na")
    client = AmazonPayClient(AmazonPayConfig(**config_kwargs), transport=WSGITransport(app))

On a loopback port::

    with Emulator.for_testing() as emulator:
        client = AmazonPayClient(AmazonPayConfig(**emulator.test_config))

Modules, one job each: ``app`` (envelope checks and routing), ``verify`` (signatures),
``routes``, ``api`` (operation handlers), ``validation`` (request bodies), ``store``
(objects and state machines), ``objects`` (records and JSON shapes), ``money``,
``idempotency``, ``faults``, ``clock``, ``buyer``/``pages``/``fixtures`` (hosted buyer
pages), ``sns``/``ipn`` (notifications), ``admin`` (``/_emulator`` API), ``merchants``,
``ids``, ``server`` (threaded server, ``Emulator``, ``serve``), ``testing``.
"""

from .app import EmulatorApp, RequestRecord
from .clock import Clock
from .errors import AmazonError
from .faults import FaultRule
from .fixtures import ADDRESSES, INSTRUMENTS, Instrument
from .ids import new_public_key_id
from .ipn import IpnDelivery, IpnEndpoint
from .merchants import Merchant, MerchantKey, MerchantRegistry, generate_key_pair
from .server import Emulator, serve
from .settings import EmulatorSettings
from .sns import (
    SigningIdentity,
    build_envelope,
    default_identity,
    ipn_message,
    sign_envelope,
    verify_envelope,
)
from .sns import (
    string_to_sign as sns_string_to_sign,
)
from .testing import WSGIBrowser, make_test_merchant

__all__ = [
    "ADDRESSES",
    "AmazonError",
    "Clock",
    "Emulator",
    "EmulatorApp",
    "EmulatorSettings",
    "FaultRule",
    "INSTRUMENTS",
    "Instrument",
    "IpnDelivery",
    "IpnEndpoint",
    "Merchant",
    "MerchantKey",
    "MerchantRegistry",
    "RequestRecord",
    "SigningIdentity",
    "WSGIBrowser",
    "build_envelope",
    "default_identity",
    "generate_key_pair",
    "ipn_message",
    "make_test_merchant",
    "new_public_key_id",
    "serve",
    "sign_envelope",
    "sns_string_to_sign",
    "verify_envelope",
]
