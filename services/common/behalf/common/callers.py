"""Who is calling: one caller type and one role vocabulary for every service.

A tenant API key authenticates as a `Caller`: the key, its tenant, its role and its scope. The
registry resolves keys from its table, the verifier from its streamed credential index and the
dispatcher through the registry's internal API; all three hand the same type to their handlers.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from behalf.common.errors import PermissionDenied
from behalf.v1 import resources_pb2


class Role(enum.StrEnum):
    """What a key may do; the values are the registry database's spelling."""

    ADMIN = "admin"
    VERIFY = "verify"
    AUDIT_READ = "audit_read"

    @property
    def readable(self) -> str:
        """The part of a key's text that says its role to a human."""
        return "audit" if self is Role.AUDIT_READ else self.value

    def to_proto(self) -> resources_pb2.Role:
        return _TO_PROTO[self]

    @classmethod
    def from_proto(cls, value: int) -> Role | None:
        """The role for a contract value; None for ROLE_UNSPECIFIED or an unknown number."""
        return _FROM_PROTO.get(value)


_TO_PROTO: dict[Role, resources_pb2.Role] = {
    Role.ADMIN: resources_pb2.ROLE_ADMIN,
    Role.VERIFY: resources_pb2.ROLE_VERIFY,
    Role.AUDIT_READ: resources_pb2.ROLE_AUDIT_READ,
}
_FROM_PROTO: dict[int, Role] = {int(v): k for k, v in _TO_PROTO.items()}

# Who may read a tenant's state (agents, decisions, deliveries) and who may ask Verify.
READ_ROLES = (Role.ADMIN, Role.AUDIT_READ)
VERIFY_ROLES = (Role.VERIFY, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class KeyScope:
    """What a key is limited to beyond its role: test mode only, and one agent."""

    test_mode_only: bool = False
    agent_id: str | None = None


UNSCOPED = KeyScope()


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated tenant API key."""

    tenant_id: str
    key_id: str
    role: Role
    scope: KeyScope = UNSCOPED

    def require(self, *roles: Role) -> None:
        """PermissionDenied unless the caller's role is one of `roles`."""
        if self.role not in roles:
            raise PermissionDenied(f"a {self.role.value} key may not do this")


def key_digest(secret: str) -> bytes:
    """SHA-256 of a key's text: how a key is stored, streamed and looked up.

    A fast hash is right here: keys are 43 random base-62 characters, not passwords.
    """
    return hashlib.sha256(secret.encode()).digest()
