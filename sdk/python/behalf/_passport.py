"""Offline passport checks: an Ed25519 signature over the exact document bytes, then its age.

The registry signs canonical JSON (`{"type": "behalf.passport/v1", "key_id", "issued_at",
"revision", "tenant_id", "agent", "permissions"}`) and returns the signature and raw public key
base64url-encoded. Pin the registry's public key (`behalf passport export` prints it) rather
than trusting the key that travels with a passport.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from behalf._exceptions import PassportError

__all__ = ["Passport", "SignedPassport", "verify_passport"]

DOCUMENT_TYPE = "behalf.passport/v1"
_CLOCK_SKEW = timedelta(minutes=5)

PublicKeyLike = str | bytes | Ed25519PublicKey


@dataclass(frozen=True)
class Passport:
    """A verified passport: the agent, its active permissions (as JSON objects, proto field
    names), the tenant, the policy revision and when it was issued."""

    agent_id: str
    tenant_id: str
    revision: int
    issued_at: datetime
    key_id: str
    agent: dict[str, Any] = field(repr=False)
    permissions: tuple[dict[str, Any], ...] = field(repr=False)

    def active_permissions(self, now: datetime | None = None) -> tuple[dict[str, Any], ...]:
        """The permissions not expired at `now` (default: the current time)."""
        moment = now or datetime.now(UTC)
        return tuple(
            p
            for p in self.permissions
            if not p.get("expires_at") or _time(p["expires_at"]) > moment
        )


@dataclass(frozen=True)
class SignedPassport:
    """What `ExportPassport` returns: the document bytes, signature, key id and public key."""

    document: bytes
    signature: str
    key_id: str
    public_key: str

    def verify(
        self,
        public_key: PublicKeyLike | None = None,
        *,
        max_age: timedelta | None = None,
        now: datetime | None = None,
    ) -> Passport:
        """`verify_passport` with this passport's fields; `public_key` defaults to the one it
        came with, which proves integrity but not origin: pin the registry's key."""
        return verify_passport(
            self.document,
            self.signature,
            public_key if public_key is not None else self.public_key,
            key_id=self.key_id,
            max_age=max_age,
            now=now,
        )

    def to_json(self) -> str:
        """A JSON envelope for files: the document base64url-encoded, so its bytes survive."""
        return json.dumps(
            {
                "type": DOCUMENT_TYPE,
                "document": _b64url(self.document),
                "signature": self.signature,
                "key_id": self.key_id,
                "public_key": self.public_key,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedPassport:
        """Read a `to_json` envelope."""
        try:
            data = json.loads(text)
            return cls(
                document=_unb64url(data["document"]),
                signature=str(data["signature"]),
                key_id=str(data.get("key_id", "")),
                public_key=str(data.get("public_key", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise PassportError(f"not a passport envelope: {exc}") from exc


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The registry's id for a signing key: "psk_" + 16 hex of SHA-256 of the raw key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "psk_" + hashlib.sha256(raw).hexdigest()[:16]


def verify_passport(
    document: bytes,
    signature: str,
    public_key: PublicKeyLike,
    *,
    key_id: str | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> Passport:
    """The parsed passport if `signature` is `public_key`'s Ed25519 signature of exactly
    `document`, it is a v1 passport for that key, was not issued in the future, is not older
    than `max_age` and not past an `expires_at`; `PassportError` otherwise."""
    key = _public_key(public_key)
    try:
        key.verify(_unb64url(signature), document)
    except (InvalidSignature, ValueError) as exc:
        raise PassportError("signature does not match the document and key") from exc
    expected_key_id = key_id_of(key)
    try:
        body = json.loads(document)
    except ValueError as exc:
        raise PassportError("document is not JSON") from exc
    if not isinstance(body, dict) or body.get("type") != DOCUMENT_TYPE:
        raise PassportError(f"document is not a {DOCUMENT_TYPE} passport")
    if body.get("key_id") != expected_key_id or (key_id and key_id != expected_key_id):
        raise PassportError("passport names another signing key")
    try:
        agent = body["agent"]
        issued_at = _time(body["issued_at"])
        passport = Passport(
            agent_id=str(agent["agent_id"]),
            tenant_id=str(body["tenant_id"]),
            revision=int(body["revision"]),
            issued_at=issued_at,
            key_id=expected_key_id,
            agent=dict(agent),
            permissions=tuple(dict(p) for p in body.get("permissions", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PassportError(f"passport is malformed: {exc}") from exc
    moment = now or datetime.now(UTC)
    if issued_at > moment + _CLOCK_SKEW:
        raise PassportError("passport is issued in the future")
    if max_age is not None and moment - issued_at > max_age:
        raise PassportError(f"passport expired: issued {issued_at.isoformat()}, max age {max_age}")
    if body.get("expires_at") and _time(body["expires_at"]) <= moment:
        raise PassportError("passport expired")
    return passport


def _public_key(value: PublicKeyLike) -> Ed25519PublicKey:
    if isinstance(value, Ed25519PublicKey):
        return value
    try:
        raw = _unb64url(value) if isinstance(value, str) else bytes(value)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise PassportError("public key is not a raw Ed25519 key") from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as exc:
        raise ValueError("not base64url") from exc


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
