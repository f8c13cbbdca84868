"""Signed passports: an agent's active permissions as canonical JSON, signed with Ed25519.

Each tenant's signing key is derived from the master key with HKDF (its tenant id in the info),
so every replica signs with the same key and nothing else needs distributing, and the keys one
tenant is shown verify none of another tenant's passports. Canonical JSON: keys sorted, no
whitespace, UTF-8. Every document carries a signed `expires_at` (`valid_for` after issue: one
hour unless asked, at most seven days), so a passport outlives a revocation by at most that
long. The lines of a disabled agent, or of one in test mode, vouch for nothing: its passport
says so and lists none.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf import duration_pb2
from google.protobuf.json_format import MessageToDict

from behalf.common.errors import InvalidArgument
from behalf.registry.secret_box import derive_key
from behalf.v1 import resources_pb2

DOCUMENT_TYPE = "behalf.passport/v1"
DEFAULT_VALIDITY = timedelta(hours=1)
MAX_VALIDITY = timedelta(days=7)


def validity(value: duration_pb2.Duration, field: str = "valid_for") -> timedelta:
    """How long a passport stays valid: unset (or zero) means one hour; negative, under a second
    or over seven days is InvalidArgument."""
    nanos = value.ToNanoseconds()
    if value.seconds < 0 or value.nanos < 0:
        raise InvalidArgument(field, "must not be negative")
    if nanos == 0:
        return DEFAULT_VALIDITY
    if nanos < 1_000_000_000:
        raise InvalidArgument(field, "must be at least 1 second")
    if nanos > MAX_VALIDITY // timedelta(microseconds=1) * 1000:
        raise InvalidArgument(field, f"must be at most {MAX_VALIDITY.days} days")
    return value.ToTimedelta()


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class SignedPassport:
    """The document and what a holder needs to check it."""

    document: bytes
    signature: str
    key_id: str
    public_key: str


@dataclass(frozen=True)
class TenantKey:
    """One tenant's passport signing key and what is published of it."""

    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    public_key: str
    key_id: str


_MAX_KEYS_CACHED = 10_000


class PassportSigner:
    """Signs passports with each tenant's Ed25519 key, derived from the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._master_key = master_key
        self._keys: dict[str, TenantKey] = {}

    def key_for(self, tenant_id: str) -> TenantKey:
        """The tenant's key, the same on every replica."""
        key = self._keys.get(tenant_id)
        if key is None:
            seed = derive_key(self._master_key, f"behalf/passport-signing/ed25519/v2/{tenant_id}")
            private = Ed25519PrivateKey.from_private_bytes(seed)
            public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            key_id = "psk_" + hashlib.sha256(public).hexdigest()[:16]
            key = TenantKey(private, b64url(public), key_id)
            if len(self._keys) >= _MAX_KEYS_CACHED:
                self._keys.pop(next(iter(self._keys)))
            self._keys[tenant_id] = key
        return key

    def sign(
        self,
        agent: resources_pb2.Agent,
        permissions: Sequence[resources_pb2.Permission],
        *,
        revision: int,
        issued_at: datetime,
        valid_for: timedelta = DEFAULT_VALIDITY,
    ) -> SignedPassport:
        key = self.key_for(agent.tenant_id)
        body = {
            "type": DOCUMENT_TYPE,
            "key_id": key.key_id,
            "issued_at": _stamp(issued_at),
            "expires_at": _stamp(issued_at + valid_for),
            "revision": revision,
            "tenant_id": agent.tenant_id,
            "agent": _as_dict(agent),
            "permissions": [_as_dict(p) for p in permissions],
        }
        document = canonical_json(body)
        return SignedPassport(
            document=document,
            signature=b64url(key.private_key.sign(document)),
            key_id=key.key_id,
            public_key=key.public_key,
        )


def _as_dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result
