"""API keys: generation, hashing, and authenticating a caller from gRPC metadata.

A key looks like `bhk_<role>_<43 base62 characters>` (about 256 random bits from `secrets`).
Only its SHA-256 digest is stored. A fast hash is the right choice here: the secret is
high-entropy random, so there is nothing to brute-force and no need for a slow password hash;
the digest is what we index and look up by, and the final comparison is constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from behalf.common.auth import bearer_token
from behalf.common.errors import PermissionDenied, Unauthenticated
from behalf.v1 import resources_pb2

KEY_PREFIX = "bhk"
_BODY_LENGTH = 43
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_SHAPE = re.compile(r"^bhk_(admin|verify|audit)_[0-9A-Za-z]{43}$")
_DISPLAY_BODY = 4


class Role(enum.StrEnum):
    """What a key may do; the values are the database's spelling."""

    ADMIN = "admin"
    VERIFY = "verify"
    AUDIT_READ = "audit_read"

    @property
    def readable(self) -> str:
        """The part of the key that says its role to a human."""
        return "audit" if self is Role.AUDIT_READ else self.value

    def to_proto(self) -> resources_pb2.Role.ValueType:
        return _TO_PROTO[self]

    @classmethod
    def from_proto(cls, value: int) -> Role | None:
        return _FROM_PROTO.get(value)


_TO_PROTO = {
    Role.ADMIN: resources_pb2.ROLE_ADMIN,
    Role.VERIFY: resources_pb2.ROLE_VERIFY,
    Role.AUDIT_READ: resources_pb2.ROLE_AUDIT_READ,
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the secret (shown once) and what is stored."""

    secret: str
    display_prefix: str
    secret_hash: bytes


@dataclass(frozen=True)
class KeyScope:
    """What a verify key is limited to beyond its role: test mode only, and one agent."""

    test_mode_only: bool = False
    agent_id: str | None = None


UNSCOPED = KeyScope()


@dataclass(frozen=True)
class Caller:
    """An authenticated tenant key."""

    tenant_id: str
    key_id: str
    role: Role

    def require(self, *roles: Role) -> None:
        """PermissionDenied unless the caller's role is one of `roles`."""
        if self.role not in roles:
            raise PermissionDenied(f"a {self.role.value} key may not do this")


def generate_key(role: Role) -> NewKey:
    """Make a new random key for `role`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    secret = f"{KEY_PREFIX}_{role.readable}_{body}"
    return NewKey(
        secret=secret,
        display_prefix=f"{KEY_PREFIX}_{role.readable}_{body[:_DISPLAY_BODY]}",
        secret_hash=hash_key(secret),
    )


def hash_key(secret: str) -> bytes:
    """SHA-256 of the key (see the module docstring for why a fast hash is right)."""
    return hashlib.sha256(secret.encode()).digest()


def looks_like_key(token: str) -> bool:
    """Tell whether a token has the shape of one of our keys (no database needed to refuse)."""
    return _KEY_SHAPE.fullmatch(token) is not None


@dataclass(frozen=True)
class StoredKey:
    """The stored half of a key, as the lookup returns it."""

    key_id: str
    tenant_id: str
    role: Role
    secret_hash: bytes


class KeyLookup(Protocol):
    """Finds an unrevoked key by the hash of its secret."""

    async def __call__(self, secret_hash: bytes) -> StoredKey | None: ...


class Authenticator:
    """Maps `authorization: Bearer <key>` metadata to a Caller."""

    def __init__(self, lookup: KeyLookup) -> None:
        self._lookup = lookup

    async def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller:
        token = bearer_token(metadata)
        if not looks_like_key(token):
            raise Unauthenticated("invalid API key")
        digest = hash_key(token)
        stored = await self._lookup(digest)
        if stored is None or not hmac.compare_digest(stored.secret_hash, digest):
            raise Unauthenticated("invalid API key")
        return Caller(tenant_id=stored.tenant_id, key_id=stored.key_id, role=stored.role)
