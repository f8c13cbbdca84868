"""API key credentials streamed from the registry, so Verify authenticates without I/O."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from behalf.common.callers import UNSCOPED, VERIFY_ROLES, Caller, KeyScope, Role, key_digest
from behalf.common.errors import PermissionDenied, Unauthenticated
from behalf.v1 import internal_pb2


@dataclass(frozen=True, slots=True)
class _Credential:
    caller: Caller
    secret_sha256: bytes


class CredentialIndex:
    """Unrevoked keys by the SHA-256 of their secret (and by key id, for changes); replaced,
    never mutated."""

    __slots__ = ("_by_hash", "_by_key_id")

    def __init__(self, credentials: Iterable[internal_pb2.ApiKeyCredential] = ()) -> None:
        by_hash: dict[bytes, _Credential] = {}
        for message in credentials:
            credential = _credential(message)
            if credential is not None:
                by_hash[credential.secret_sha256] = credential
        self._set(by_hash)

    def with_changes(self, changes: Iterable[internal_pb2.ApiKeyCredential]) -> CredentialIndex:
        """A new index with keys added or (when revoked) removed."""
        by_hash = dict(self._by_hash)
        by_key_id = dict(self._by_key_id)
        for message in changes:
            stale = by_key_id.pop(message.key_id, None)
            if stale is not None:
                by_hash.pop(stale, None)
            credential = _credential(message)
            if credential is not None:
                by_hash[credential.secret_sha256] = credential
                by_key_id[message.key_id] = credential.secret_sha256
        index = CredentialIndex.__new__(CredentialIndex)
        index._by_hash = MappingProxyType(by_hash)
        index._by_key_id = MappingProxyType(by_key_id)
        return index

    def _set(self, by_hash: dict[bytes, _Credential]) -> None:
        self._by_hash = MappingProxyType(by_hash)
        self._by_key_id = MappingProxyType({c.caller.key_id: h for h, c in by_hash.items()})

    def authenticate(self, token: str) -> Caller:
        """The caller a key belongs to, or Unauthenticated (the same message for every failure)."""
        digest = key_digest(token)
        found = self._by_hash.get(digest)
        if found is None or not hmac.compare_digest(found.secret_sha256, digest):
            raise Unauthenticated("invalid API key")
        return found.caller

    def __len__(self) -> int:
        return len(self._by_hash)


def require_verify_role(caller: Caller) -> None:
    """Only verify and admin keys may ask for decisions."""
    if caller.role not in VERIFY_ROLES:
        raise PermissionDenied("this API key's role may not call Verify")


def require_key_scope(caller: Caller, *, agent_id: str, test_mode: bool) -> None:
    """A test-link key asks test-mode questions about its one agent, and nothing else."""
    scope = caller.scope
    if scope is UNSCOPED:
        return
    if scope.test_mode_only and not test_mode:
        raise PermissionDenied("this API key may only ask for test-mode decisions")
    if scope.agent_id is not None and agent_id != scope.agent_id:
        raise PermissionDenied("this API key may only ask about the agent it is bound to")


def _credential(message: internal_pb2.ApiKeyCredential) -> _Credential | None:
    """The index entry of an unrevoked key; None for a revoked key or one whose role this
    verifier does not know (such a key could not be allowed to do anything)."""
    role = Role.from_proto(message.role)
    if message.revoked or role is None:
        return None
    scope = (
        KeyScope(test_mode_only=message.test_mode_only, agent_id=message.agent_id or None)
        if message.test_mode_only or message.agent_id
        else UNSCOPED
    )
    caller = Caller(tenant_id=message.tenant_id, key_id=message.key_id, role=role, scope=scope)
    return _Credential(caller, bytes(message.secret_sha256))
