"""Authenticate an API request the way Amazon does.

Checks run in the order Amazon's gateway is understood to apply them, each with the
error Amazon answers:

1. ``authorization`` present (400 MissingHeaderValue), parseable with a known algorithm
   and a registered ``PublicKeyId`` (403 InvalidRequestSignature);
2. ``SignedHeaders`` includes ``x-amz-pay-date`` and, when sent, the idempotency key
   (403 InvalidRequestSignature); every listed header was sent (400 MissingHeaderValue);
3. the RSASSA-PSS signature verifies over the canonical request rebuilt from the request
   *as received*: raw path (trailing slash included), canonicalised query, the listed
   headers, the body bytes; salt length from the named algorithm (403);
4. ``x-amz-pay-date`` parses and is within 15 minutes (400 InvalidHeaderValue);
5. ``x-amz-pay-host`` equals the Host header's hostname and ``x-amz-pay-region`` the
   merchant's region, case-insensitively (400 InvalidHeaderValue / MissingHeaderValue);
6. the path's environment agrees with the key (403 InvalidAuthentication).

Verification reuses ``core.signing``: the emulator and the client share one definition
of the canonical request, so a disagreement can only be a protocol bug, and interop tests
pin that definition to the official SDKs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.constants import (
    DATE_HEADER,
    HOST_HEADER,
    IDEMPOTENCY_HEADER,
    REGION_HEADER,
    Environment,
    SignatureAlgorithm,
)
from ..core.signing import (
    canonical_request,
    parse_amz_date,
    parse_authorization,
    string_to_sign,
    verify,
)
from .errors import AmazonError
from .merchants import Merchant, MerchantKey, MerchantRegistry
from .wire import Request

MAX_CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class VerifiedRequest:
    merchant: Merchant
    key: MerchantKey
    environment: Environment
    algorithm: SignatureAlgorithm
    signed_headers: "tuple[str, ...]"


def _signature_error(message: str) -> AmazonError:
    return AmazonError(403, "InvalidRequestSignature", message)


def _missing_header(name: str) -> AmazonError:
    return AmazonError(400, "MissingHeaderValue", f"The {name} header is required and was not provided.")


def _invalid_header(name: str, message: str) -> AmazonError:
    return AmazonError(400, "InvalidHeaderValue", f"Invalid value for the {name} header: {message}")


class RequestVerifier:
    def __init__(self, registry: MerchantRegistry, *, max_skew: timedelta = MAX_CLOCK_SKEW) -> None:
        self.registry = registry
        self.max_skew = max_skew

    def verify(self, request: Request, path_environment: "Environment | None",
               now: "list[datetime] | tuple[datetime, ...]") -> VerifiedRequest:
        """``path_environment``: from ``/sandbox/v2`` or ``/live/v2``; None for bare ``/v2``.

        ``now``: the moments the date may be close to. The emulator passes wall time *and*
        its own (possibly advanced) clock, so tests that move the clock by a day do not
        have to move the client's clock too.
        """
        merchant, key, auth = self._check_signature(request)
        self._check_date(request, now)
        self._check_host_and_region(request, merchant)
        environment = self._check_environment(merchant, key, path_environment)
        return VerifiedRequest(merchant, key, environment, auth.algorithm, auth.signed_headers)

    # -- steps ----------------------------------------------------------------------

    def _check_signature(self, request: Request):
        header = request.header("authorization")
        if not header:
            raise _missing_header("authorization")
        try:
            auth = parse_authorization(header)
        except ValueError as exc:
            # Covers both a garbled header and an algorithm label Amazon does not know.
            raise _signature_error(f"The authorization header is invalid: {exc}.") from None
        found = self.registry.by_public_key_id(auth.public_key_id)
        if found is None:
            raise _signature_error(f"Unknown PublicKeyId {auth.public_key_id}.")
        merchant, key = found
        signed = auth.signed_headers
        if DATE_HEADER not in signed:
            raise _signature_error(f"SignedHeaders must include {DATE_HEADER}.")
        if request.header(IDEMPOTENCY_HEADER) is not None and IDEMPOTENCY_HEADER not in signed:
            # The PHP SDK: "x-amz-pay-idempotency-key is a special user-supplied header that
            # must be pre-signed if used". An unsigned key could be swapped by a proxy.
            raise _signature_error(f"SignedHeaders must include {IDEMPOTENCY_HEADER} when it is sent.")
        for name in signed:
            if request.header(name) is None:
                raise _missing_header(name)
        canonical = canonical_request(
            request.method, request.raw_path, request.query_string, request.headers, signed, request.body
        )
        if not verify(key.public_key, auth.algorithm, string_to_sign(auth.algorithm, canonical), auth.signature):
            raise _signature_error(
                "The request signature does not match. Check the canonical request (method, path, query, "
                "signed headers, body) and the algorithm's salt length."
            )
        return merchant, key, auth

    def _check_date(self, request: Request, now) -> None:
        value = request.header(DATE_HEADER) or ""
        try:
            sent = parse_amz_date(value)
        except ValueError:
            raise _invalid_header(DATE_HEADER, f"{value!r} is not an ISO 8601 UTC timestamp.") from None
        if not any(abs(sent - moment) <= self.max_skew for moment in now):
            raise _invalid_header(DATE_HEADER, f"{value} differs from the server time by more than 15 minutes.")

    def _check_host_and_region(self, request: Request, merchant: Merchant) -> None:
        host = request.header(HOST_HEADER)
        if host is None:
            raise _missing_header(HOST_HEADER)
        if host.strip().lower() != request.host.lower():
            raise _invalid_header(HOST_HEADER, f"{host!r} does not match the Host {request.host!r}.")
        region = request.header(REGION_HEADER)
        if region is None:
            raise _missing_header(REGION_HEADER)
        if region.strip().lower() != merchant.region:
            raise _invalid_header(REGION_HEADER, f"{region!r} is not the region ({merchant.region}) of this merchant.")

    def _check_environment(self, merchant: Merchant, key: MerchantKey,
                           path_environment: "Environment | None") -> Environment:
        allowed = merchant.key_environments(key)
        if path_environment is None:
            # Bare /v2: only environment-specific key ids say which environment is meant.
            if len(key.environments) != 1:
                raise AmazonError(403, "InvalidAuthentication",
                                  f"PublicKeyId {key.public_key_id} has no environment prefix: "
                                  "call /sandbox/v2/... or /live/v2/....")
            (environment,) = tuple(key.environments)
        else:
            environment = path_environment
        if environment not in allowed:
            raise AmazonError(403, "InvalidAuthentication",
                              f"PublicKeyId {key.public_key_id} is not valid in the {environment.value} environment.")
        return environment
