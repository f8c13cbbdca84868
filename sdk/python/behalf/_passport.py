"""Offline passport checks: an Ed25519 signature by a trusted key over the exact document bytes,
then its age and its signed expiry.

The registry signs canonical JSON (`{"type": "behalf.passport/v1", "key_id", "issued_at",
"expires_at", "revision", "tenant_id", "agent", "permissions"}`) and returns the signature and
raw public key base64url-encoded. A passport proves nothing about who signed it, so verifying
always needs the keys you trust: a pinned registry key, or the registry's published keys
fetched with your API key (`await client.passport_keys()`). The public key that travels with a
passport is never used. Documents signed before `expires_at` existed are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from behalf._errors import PassportError

__all__ = ["DEFAULT_MAX_AGE", "Passport", "SignedPassport", "verify_passport"]

DOCUMENT_TYPE = "behalf.passport/v1"
DEFAULT_MAX_AGE = timedelta(hours=1)
"""How long after `issued_at` a passport is accepted unless the caller says otherwise."""
_CLOCK_SKEW = timedelta(minutes=5)

PublicKeyLike = str | bytes | Ed25519PublicKey
TrustedKeys = PublicKeyLike | Mapping[str, PublicKeyLike] | Sequence[PublicKeyLike]
"""One pinned key, the registry's published keys by key id, or a list of keys."""


@dataclass(frozen=True)
class Passport:
    """A verified passport: the agent, its permissions (as JSON objects, proto field names),
    the tenant, the policy revision, when it was issued and when it stops being valid."""

    agent_id: str
    tenant_id: str
    revision: int
    issued_at: datetime
    expires_at: datetime
    key_id: str
    agent: dict[str, Any] = field(repr=False)
    permissions: tuple[dict[str, Any], ...] = field(repr=False)

    def active_permissions(self, now: datetime | None = None) -> tuple[dict[str, Any], ...]:
        """The permissions in force at `now` (default: the current time): started and not
        expired, while the passport itself has not expired. None for a disabled agent or one in
        test mode (the registry lists no lines for them either)."""
        moment = now or datetime.now(UTC)
        if moment >= self.expires_at or not self.enforced:
            return ()
        return tuple(
            p
            for p in self.permissions
            if (not p.get("expires_at") or _time(p["expires_at"]) > moment)
            and (not p.get("not_before") or _time(p["not_before"]) <= moment)
        )

    @property
    def enforced(self) -> bool:
        """Whether the agent may act at all: enabled, and not in test mode."""
        return not self.agent.get("disabled") and self.agent.get("mode") != "AGENT_MODE_TEST"


@dataclass(frozen=True)
class SignedPassport:
    """What `ExportPassport` returns: the document bytes, signature, key id and public key."""

    document: bytes
    signature: str
    key_id: str
    public_key: str

    def verify(
        self,
        public_key: TrustedKeys | None = None,
        *,
        max_age: timedelta | None = DEFAULT_MAX_AGE,
        now: datetime | None = None,
    ) -> Passport:
        """`verify_passport` with this passport's fields. `public_key` is required: a pinned
        registry key or `await client.passport_keys()`; the key this passport carries is
        never trusted on its own word."""
        if public_key is None:
            raise PassportError(
                "no trusted key: pin the registry's public key or pass the keys from "
                "passport_keys(); a passport's own key proves nothing"
            )
        return verify_passport(
            self.document,
            self.signature,
            public_key,
            key_id=self.key_id or None,
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
    public_key: TrustedKeys,
    *,
    key_id: str | None = None,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
    now: datetime | None = None,
) -> Passport:
    """The parsed passport if `document` is a v1 passport naming one of the trusted keys,
    `signature` is that key's Ed25519 signature of exactly `document`, it was not issued in the
    future (beyond a few minutes of clock skew), is not older than `max_age` (default one hour;
    None leaves only the signed expiry) and not past its signed `expires_at`; `PassportError`
    otherwise. `key_id`, if given (an envelope's), must be the key the document names."""
    trusted = _trusted(public_key)
    body = _body(document)
    named = body.get("key_id")
    if not isinstance(named, str) or named not in trusted:
        raise PassportError("passport is signed with a key that is not trusted")
    key = trusted[named]
    try:
        key.verify(_unb64url(signature), document)
    except (InvalidSignature, ValueError) as exc:
        raise PassportError("signature does not match the document and key") from exc
    if key_id is not None and key_id != named:
        raise PassportError("passport names another signing key")
    if "expires_at" not in body:
        raise PassportError("passport has no expires_at: export it again from the registry")
    try:
        agent = body["agent"]
        passport = Passport(
            agent_id=str(agent["agent_id"]),
            tenant_id=str(body["tenant_id"]),
            revision=int(body["revision"]),
            issued_at=_time(body["issued_at"]),
            expires_at=_time(body["expires_at"]),
            key_id=named,
            agent=dict(agent),
            permissions=tuple(dict(p) for p in body.get("permissions", [])),
        )
        for permission in passport.permissions:
            for name in ("not_before", "expires_at"):
                if permission.get(name):
                    _time(permission[name])
    except (KeyError, TypeError, ValueError) as exc:
        raise PassportError(f"passport is malformed: {exc}") from exc
    _check_times(passport, max_age, now or datetime.now(UTC))
    return passport


def _check_times(passport: Passport, max_age: timedelta | None, moment: datetime) -> None:
    if passport.issued_at > moment + _CLOCK_SKEW:
        raise PassportError("passport is issued in the future")
    if passport.expires_at <= passport.issued_at:
        raise PassportError("passport is malformed: expires_at is not after issued_at")
    if passport.expires_at <= moment:
        raise PassportError(f"passport expired at {passport.expires_at.isoformat()}")
    if max_age is not None and moment - passport.issued_at > max_age:
        raise PassportError(
            f"passport expired: issued {passport.issued_at.isoformat()}, max age {max_age}"
        )


def _trusted(keys: TrustedKeys) -> dict[str, Ed25519PublicKey]:
    """Trusted keys by their real key id; a mapping whose id disagrees with its key raises."""
    if isinstance(keys, str | bytes | Ed25519PublicKey):
        key = _public_key(keys)
        return {key_id_of(key): key}
    if isinstance(keys, Mapping):
        trusted: dict[str, Ed25519PublicKey] = {}
        for claimed, value in keys.items():
            key = _public_key(value)
            if key_id_of(key) != claimed:
                raise PassportError(f"trusted key {claimed!r} does not match its key id")
            trusted[claimed] = key
        return trusted
    if not isinstance(keys, Sequence):
        raise PassportError("trusted keys must be a key, a list of keys or a key id mapping")
    return {key_id_of(key): key for key in map(_public_key, keys)}


def _body(document: bytes) -> dict[str, Any]:
    try:
        body = json.loads(document)
    except (ValueError, TypeError) as exc:
        raise PassportError("document is not JSON") from exc
    if not isinstance(body, dict) or body.get("type") != DOCUMENT_TYPE:
        raise PassportError(f"document is not a {DOCUMENT_TYPE} passport")
    return body


def _public_key(value: object) -> Ed25519PublicKey:
    """A `PublicKeyLike` as a key; anything else (a list's stray item too) raises."""
    if isinstance(value, Ed25519PublicKey):
        return value
    try:
        if isinstance(value, str):
            raw = _unb64url(value)
        elif isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
        else:
            raise TypeError(f"not a key: {type(value).__name__}")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
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
