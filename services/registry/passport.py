"""Signed passports: an agent's active permissions as canonical JSON, signed with Ed25519.

The signing key is derived from the master key with HKDF, so every replica signs with the same
key and nothing else needs distributing. Canonical JSON: keys sorted, no whitespace, UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.json_format import MessageToDict

from behalf.registry.secret_box import derive_key
from behalf.v1 import resources_pb2

DOCUMENT_TYPE = "behalf.passport/v1"


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


class PassportSigner:
    """Signs passports with the Ed25519 key derived from the master key."""

    def __init__(self, master_key: bytes) -> None:
        seed = derive_key(master_key, "behalf/passport-signing/ed25519/v1")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = b64url(public)
        self.key_id = "psk_" + hashlib.sha256(public).hexdigest()[:16]

    def sign(
        self,
        agent: resources_pb2.Agent,
        permissions: Sequence[resources_pb2.Permission],
        *,
        revision: int,
        issued_at: datetime,
    ) -> SignedPassport:
        body = {
            "type": DOCUMENT_TYPE,
            "key_id": self.key_id,
            "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
            "revision": revision,
            "tenant_id": agent.tenant_id,
            "agent": _as_dict(agent),
            "permissions": [_as_dict(p) for p in permissions],
        }
        document = canonical_json(body)
        return SignedPassport(
            document=document,
            signature=b64url(self._key.sign(document)),
            key_id=self.key_id,
            public_key=self.public_key,
        )


def _as_dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result
