"""API keys: generation, and authenticating a caller from gRPC metadata.

A key looks like `bhk_<role>_<43 base62 characters>` (about 256 random bits from `secrets`).
Only its SHA-256 digest is stored (`behalf.common.callers.key_digest`): the secret is
high-entropy random, so there is nothing to brute-force and no need for a slow password hash;
the digest is what we index and look up by, and the final comparison is constant-time.
`Caller`, `Role` and `KeyScope` are the shared types of `behalf.common.callers`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from behalf.common.auth import bearer_token
from behalf.common.callers import Caller, Role, key_digest
from behalf.common.errors import Unauthenticated
from behalf.registry.store.values import StoredKey

__all__ = [
    "Authenticator",
    "KeyLookup",
    "NewKey",
    "generate_key",
    "looks_like_key",
]

KEY_PREFIX = "bhk"
_BODY_LENGTH = 43
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_SHAPE = re.compile(r"^bhk_(admin|verify|audit)_[0-9A-Za-z]{43}$")
_DISPLAY_BODY = 4


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the secret (shown once) and what is stored."""

    secret: str
    display_prefix: str
    secret_hash: bytes


def generate_key(role: Role) -> NewKey:
    """Make a new random key for `role`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    secret = f"{KEY_PREFIX}_{role.readable}_{body}"
    return NewKey(
        secret=secret,
        display_prefix=f"{KEY_PREFIX}_{role.readable}_{body[:_DISPLAY_BODY]}",
        secret_hash=key_digest(secret),
    )


def looks_like_key(token: str) -> bool:
    """Tell whether a token has the shape of one of our keys (no database needed to refuse)."""
    return _KEY_SHAPE.fullmatch(token) is not None


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
        digest = key_digest(token)
        stored = await self._lookup(digest)
        if stored is None or not hmac.compare_digest(stored.secret_hash, digest):
            raise Unauthenticated("invalid API key")
        return Caller(stored.tenant_id, stored.key_id, stored.role, stored.scope)
