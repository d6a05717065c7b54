"""Identifiers in the shapes Amazon Pay uses.

Shapes matter: merchants validate and store these ids (Saleor keeps ``S01-…`` ids in
``psp_reference``), so an emulator that invented its own formats would hide bugs in
column widths and regexes.
"""

from __future__ import annotations

import secrets
import uuid

from ..core.constants import Environment

# Amazon's key and merchant ids look like base32: uppercase letters and digits 2-7.
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _base32(length: int) -> str:
    return "".join(secrets.choice(_BASE32) for _ in range(length))


def _digits(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_public_key_id(env: "Environment | str | None" = None) -> str:
    """``AE4HVOSVMVJFNALR4ODV2NAZ`` (legacy, 24 chars) or ``SANDBOX-``/``LIVE-`` + 24 chars.

    Legacy ids are valid in both environments (the path says which); prefixed ids carry
    the environment, and clients then call ``/v2/…`` without an environment segment.
    """
    legacy = "A" + _base32(23)
    if env is None:
        return legacy
    return f"{Environment(str(getattr(env, 'value', env)).lower()).value.upper()}-{legacy}"


def new_merchant_id() -> str:
    """Seller ids look like ``A2EJH1Z3BLWXQO``: 'A' plus 13 uppercase characters."""
    return "A" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(13))


def new_store_id() -> str:
    """Store ids are the Login with Amazon client id of the merchant's store."""
    return f"amzn1.application-oa2-client.{secrets.token_hex(16)}"


def new_checkout_session_id() -> str:
    return str(uuid.uuid4())


def new_charge_permission_id(prefix: str = "S01") -> str:
    return f"{prefix}-{_digits(7)}-{_digits(7)}"


def new_charge_id(charge_permission_id: str) -> str:
    return f"{charge_permission_id}-C{_digits(6)}"


def new_refund_id(charge_permission_id: str) -> str:
    return f"{charge_permission_id}-R{_digits(6)}"


def new_buyer_id() -> str:
    return "amzn1.account." + _base32(28)


def new_request_id() -> str:
    return str(uuid.uuid4())


def new_uuid() -> str:
    return str(uuid.uuid4())
