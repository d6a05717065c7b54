"""Tunable timings and limits of the emulated service (defaults are Amazon's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class EmulatorSettings:
    #: Sandbox cards ...0701/...4354: AuthorizationInitiated resolves after 30 s.
    pending_authorization_seconds: float = 30.0
    #: CaptureInitiated -> Captured.
    capture_seconds: float = 30.0
    #: RefundInitiated -> Refunded / Declined.
    refund_seconds: float = 30.0
    #: "Any Checkout Session that is not confirmed within 24 hours will be cancelled."
    checkout_session_lifetime: timedelta = timedelta(hours=24)
    #: One-time charge permissions close (Expired) after 180 days.
    charge_permission_lifetime: timedelta = timedelta(days=180)
    #: Authorized charges not captured in time are Canceled (ExpiredUnused): 30 days live,
    #: 2 days in the sandbox (notes §4 "Sandbox timing").
    authorization_lifetime_live: timedelta = timedelta(days=30)
    authorization_lifetime_sandbox: timedelta = timedelta(days=2)
    max_charges_per_charge_permission: int = 25
    max_refunds_per_charge: int = 10
    max_clock_skew: timedelta = timedelta(minutes=15)
