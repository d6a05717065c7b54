"""AMZN-PAY-RSASSA-PSS(-V2) request signing and verification.

Builds the canonical request, string to sign and ``authorization`` header byte for byte
as the official SDKs do (see tests/interop for the proof against the Node SDK). The
module is pure: the clock is a parameter, and the emulator verifies with the same code
that the client signs with, so the two can only disagree if the protocol does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence
from urllib.parse import quote, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .constants import DEFAULT_SIGNED_HEADERS, IDEMPOTENCY_HEADER, SignatureAlgorithm

__all__ = [
    "Authorization",
    "ButtonSignature",
    "RequestSigner",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "format_amz_date",
    "hex_sha256",
    "load_private_key",
    "load_public_key",
    "parse_amz_date",
    "parse_authorization",
    "string_to_sign",
    "verify",
]

_COMPACT_DATE = "%Y%m%dT%H%M%SZ"
_EXTENDED_DATE = "%Y-%m-%dT%H:%M:%SZ"


def format_amz_date(moment: datetime) -> str:
    """``20240105T131415Z``: the compact ISO 8601 form that PHP and Java send."""
    if moment.tzinfo is None:
        raise ValueError("x-amz-pay-date needs an aware datetime")
    return moment.astimezone(timezone.utc).strftime(_COMPACT_DATE)


def parse_amz_date(value: str) -> datetime:
    """Accept both forms the SDKs send: compact (PHP/Java) and extended (Node)."""
    for fmt in (_COMPACT_DATE, _EXTENDED_DATE):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise ValueError(f"unrecognised x-amz-pay-date {value!r}")


def hex_sha256(data: "bytes | str") -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _rfc3986(value: str) -> str:
    # encodeURIComponent / rawurlencode: unreserved characters stay, space -> %20, ~ stays.
    return quote(value, safe="-_.~")


def canonical_query(query: "str | Mapping[str, object] | None") -> str:
    """Sorted ``key=value`` pairs, RFC 3986-encoded, joined by ``&``; empty values dropped.

    A raw query string (as received on the wire) is decoded first, so the emulator and
    the client canonicalise the same pairs the same way however the sender encoded them.
    """
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    if isinstance(query, str):
        for part in query.split("&"):
            if not part:
                continue
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    else:
        for key, value in query.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                # PHP SDK flattens arrays as key.1, key.2 ...
                for index, item in enumerate(value, start=1):
                    pairs.append((f"{key}.{index}", str(item)))
            else:
                pairs.append((key, str(value)))
    pairs = [(k, v) for k, v in pairs if v != ""]
    pairs.sort()
    return "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in pairs)


def _header_value(value: str) -> str:
    # Java trims values and collapses runs of whitespace; the others send values that
    # have none, so normalising here is harmless and keeps all three in agreement.
    return re.sub(r"\s+", " ", str(value).strip())


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str]) -> str:
    lowered = {name.lower(): value for name, value in headers.items()}
    lines = []
    for name in signed_headers:
        if name not in lowered:
            raise KeyError(name)
        lines.append(f"{name}:{_header_value(lowered[name])}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    path: str,
    query: "str | Mapping[str, object] | None",
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: "bytes | str" = b"",
) -> str:
    """METHOD\\npath\\nquery\\n{name:value\\n}*\\nsigned;headers\\nhex(sha256(body))."""
    names = sorted(h.lower() for h in signed_headers)
    path = path or "/"
    if not path.startswith("/"):
        # .NET SDK CanonicalBuilder: "" -> "/", and a missing leading slash is added.
        path = "/" + path
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            canonical_headers(headers, names),
            ";".join(names),
            hex_sha256(body or b""),
        ]
    )


def string_to_sign(algorithm: "SignatureAlgorithm | str", canonical: str) -> str:
    return f"{SignatureAlgorithm.parse(algorithm).value}\n{hex_sha256(canonical)}"


def _pss(algorithm: SignatureAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=algorithm.salt_length)


@functools.lru_cache(maxsize=32)
def _load_private_key_cached(pem: bytes, passphrase: "bytes | None") -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=passphrase)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Amazon Pay private key must be an RSA key")
    return key


def load_private_key(pem: "bytes | str", passphrase: "bytes | str | None" = None) -> rsa.RSAPrivateKey:
    """Parse a PEM private key once per process (parsing costs more than a signature)."""
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    return _load_private_key_cached(pem.strip() + b"\n", passphrase or None)


def load_public_key(pem: "bytes | str") -> rsa.RSAPublicKey:
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Amazon Pay public key must be an RSA key")
    return key


def verify(
    public_key: rsa.RSAPublicKey,
    algorithm: "SignatureAlgorithm | str",
    message: str,
    signature_b64: str,
) -> bool:
    """True when ``signature_b64`` is a valid PSS signature of ``message`` for ``algorithm``."""
    algo = SignatureAlgorithm.parse(algorithm)
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message.encode("utf-8"), _pss(algo), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Authorization:
    """The parsed ``authorization`` header."""

    algorithm: SignatureAlgorithm
    public_key_id: str
    signed_headers: tuple[str, ...]
    signature: str

    def header(self) -> str:
        return (
            f"{self.algorithm.value} PublicKeyId={self.public_key_id}, "
            f"SignedHeaders={';'.join(self.signed_headers)}, Signature={self.signature}"
        )


_AUTH_RE = re.compile(
    r"^(?P<algo>\S+)\s+PublicKeyId=(?P<kid>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>\S+)$"
)


def parse_authorization(value: str) -> Authorization:
    match = _AUTH_RE.match(value.strip())
    if not match:
        raise ValueError("malformed authorization header")
    return Authorization(
        algorithm=SignatureAlgorithm.parse(match["algo"]),
        public_key_id=match["kid"],
        signed_headers=tuple(h.lower() for h in match["sh"].split(";") if h),
        signature=match["sig"],
    )


@dataclass(frozen=True)
class ButtonSignature:
    """What ``amazon.Pay.renderButton`` needs in ``createCheckoutSessionConfig``."""

    payload_json: str
    signature: str
    public_key_id: str
    algorithm: SignatureAlgorithm

    def as_button_config(self) -> dict:
        return {
            "payloadJSON": self.payload_json,
            "signature": self.signature,
            "publicKeyId": self.public_key_id,
            "algorithm": self.algorithm.value,
        }


def button_payload_json(payload: "Mapping | str") -> str:
    """Serialise like ``JSON.stringify``: no whitespace, unicode and slashes unescaped."""
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class RequestSigner:
    """Signs API requests and button payloads with one merchant key.

    Holds the parsed key object (never the PEM text) and deliberately has no useful repr.
    """

    __slots__ = ("_key", "public_key_id", "algorithm")

    def __init__(self, private_key: rsa.RSAPrivateKey, public_key_id: str, algorithm: "SignatureAlgorithm | str"):
        self._key = private_key
        self.public_key_id = public_key_id
        self.algorithm = SignatureAlgorithm.parse(algorithm)

    def __repr__(self) -> str:
        return f"RequestSigner(public_key_id={self.public_key_id!r}, algorithm={self.algorithm.value!r}, private_key=***)"

    def sign_string(self, message: str) -> str:
        raw = self._key.sign(message.encode("utf-8"), _pss(self.algorithm), hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    def sign_request(
        self,
        *,
        method: str,
        path: str,
        query: "str | Mapping[str, object] | None",
        headers: Mapping[str, str],
        body: "bytes | str" = b"",
        signed_headers: "Sequence[str] | None" = None,
    ) -> str:
        """Return the ``authorization`` header value for a request carrying ``headers``.

        By default signs the five headers every SDK signs, plus the idempotency key when
        present (Amazon rejects an unsigned idempotency key).
        """
        lowered = {k.lower() for k in headers}
        if signed_headers is None:
            names = list(DEFAULT_SIGNED_HEADERS)
            if IDEMPOTENCY_HEADER in lowered:
                names.append(IDEMPOTENCY_HEADER)
        else:
            names = [h.lower() for h in signed_headers]
        names.sort()
        canonical = canonical_request(method, path, query, headers, names, body)
        signature = self.sign_string(string_to_sign(self.algorithm, canonical))
        return Authorization(self.algorithm, self.public_key_id, tuple(names), signature).header()

    def sign_button_payload(self, payload: "Mapping | str") -> ButtonSignature:
        """Sign ``payloadJSON`` for the Amazon Pay button: ``ALGO\\nhex(sha256(payloadJSON))``."""
        payload_json = button_payload_json(payload)
        message = f"{self.algorithm.value}\n{hex_sha256(payload_json)}"
        return ButtonSignature(payload_json, self.sign_string(message), self.public_key_id, self.algorithm)
