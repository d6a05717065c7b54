"""HTML of the hosted buyer pages: plain forms with stable ids and names, so a test can
post the fields directly and Playwright can click them. No JavaScript."""

from __future__ import annotations

from html import escape

from .fixtures import (
    ADDRESSES,
    DEFAULT_ADDRESS,
    DEFAULT_BUYER_EMAIL,
    DEFAULT_BUYER_NAME,
    INSTRUMENTS,
)
from .objects import CheckoutSession

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#111}
header{border-bottom:3px solid #ff9900;margin-bottom:1rem}
.banner{background:#fff3cd;padding:.5rem;border-radius:4px;font-size:.9rem}
.error{background:#f8d7da;padding:.75rem;border-radius:4px}
fieldset{margin:1rem 0;border:1px solid #ccc;border-radius:4px}
label{display:block;margin:.25rem 0}
button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}
#amazonpay-approve,#amazonpay-confirm{background:#ffd814;border:1px solid #fcd200;border-radius:8px}
"""


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)} - Amazon Pay (emulator)</title><style>{_STYLE}</style></head><body>"
        "<header><h1>amazon pay <small>emulator</small></h1></header>"
        "<p class=\"banner\">Test environment: no real payment is made.</p>"
        f"{body}</body></html>"
    )


def error_page(message: str, title: str = "Something went wrong") -> str:
    return layout(title, f"<h2>{escape(title)}</h2><p id=\"amazonpay-error\" class=\"error\">{escape(message)}</p>")


def message_page(title: str, message: str) -> str:
    return layout(title, f"<h2>{escape(title)}</h2><p id=\"amazonpay-message\">{escape(message)}</p>")


def _amount(session: CheckoutSession) -> str:
    amount = session.payment.charge_amount
    return f"<p>Amount: <strong id=\"amazonpay-amount\">{escape(str(amount))}</strong></p>" if amount else ""


def _instrument_fields(selected: "str | None") -> str:
    rows = []
    selected = selected or "1111"
    for code, instrument in INSTRUMENTS.items():
        checked = " checked" if code == selected else ""
        rows.append(
            f"<label><input type=\"radio\" name=\"instrument\" id=\"instrument-{code}\" value=\"{code}\"{checked}> "
            f"{escape(instrument.label)}</label>"
        )
    return "<fieldset><legend>Payment method</legend>" + "".join(rows) + "</fieldset>"


def approval_page(session: CheckoutSession, *, region: str, store_name: str, error: "str | None" = None) -> str:
    sid = escape(session.checkout_session_id)
    needs_address = session.product_type != "PayOnly" and not session.address_details
    default_address = DEFAULT_ADDRESS.get(region, "US")
    address_options = "".join(
        f"<option value=\"{key}\"{' selected' if key == default_address else ''}>"
        f"{escape(data['name'])}, {escape(data['city'])}, {escape(data['countryCode'])}</option>"
        for key, data in ADDRESSES.items()
    )
    label = "Shipping and billing address" if needs_address else "Billing address"
    current = session.instrument.code if session.instrument else None
    body = [
        f"<h2>Sign in and pay with Amazon</h2><p>Merchant: <strong>{escape(store_name)}</strong></p>",
        _amount(session),
        f"<p id=\"amazonpay-error\" class=\"error\">{escape(error)}</p>" if error else "",
        "<form method=\"post\" action=\"/_emulator/buyer/approve\" id=\"amazonpay-approve-form\">",
        f"<input type=\"hidden\" name=\"checkoutSessionId\" id=\"checkout-session-id\" value=\"{sid}\">",
        "<fieldset><legend>Test buyer</legend>",
        f"<label>Name <input name=\"name\" id=\"buyer-name\" value=\"{escape(DEFAULT_BUYER_NAME)}\"></label>",
        f"<label>Email <input name=\"email\" id=\"buyer-email\" value=\"{escape(DEFAULT_BUYER_EMAIL)}\"></label>",
        "</fieldset>",
        f"<fieldset><legend>{label}</legend>",
        f"<select name=\"address\" id=\"address\">{address_options}</select></fieldset>",
        _instrument_fields(current),
        "<button type=\"submit\" name=\"action\" value=\"approve\" id=\"amazonpay-approve\">Continue</button>",
        "<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"amazonpay-cancel\">Cancel</button>",
        "</form>",
    ]
    return layout("Sign in", "".join(body))


def repick_page(session: CheckoutSession, message: str) -> str:
    """A soft decline: Amazon asks the buyer for another instrument on its own page."""
    sid = escape(session.checkout_session_id)
    body = (
        "<h2>Your payment method was declined</h2>"
        f"<p id=\"amazonpay-error\" class=\"error\">{escape(message)}</p>{_amount(session)}"
        f"<form method=\"post\" action=\"/_emulator/buyer/confirm/{sid}\" id=\"amazonpay-confirm-form\">"
        f"{_instrument_fields(None)}"
        "<button type=\"submit\" id=\"amazonpay-confirm\">Place your order</button></form>"
    )
    return layout("Payment declined", body)
