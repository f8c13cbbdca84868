"""Who is calling DispatcherService: a tenant and a role, from gRPC metadata.

The dispatcher keeps no key table and must not read the registry's, and the contract has no
internal RPC to authenticate a tenant API key yet. Until it has one (`AuthenticateKey`), the
only accepted credential is the service token together with an `x-behalf-tenant` header naming
the tenant to act for. A registry-backed `Authenticator` slots in behind the same Protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from behalf.common.auth import require_service_token
from behalf.common.errors import PermissionDenied, Unauthenticated
from behalf.common.ids import is_id

TENANT_HEADER = "x-behalf-tenant"

Metadata = Sequence[tuple[str, str | bytes]]

ADMIN = "admin"
AUDIT_READ = "audit-read"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller acting inside one tenant."""

    tenant_id: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise PermissionDenied("this key's role may not do this")


class Authenticator(Protocol):
    """Maps request metadata to a caller, or raises Unauthenticated."""

    async def authenticate(self, metadata: Metadata | None) -> Caller: ...


class ServiceTokenAuthenticator:
    """The interim scheme: service token plus `x-behalf-tenant`, acting as admin."""

    def __init__(self, service_token: str) -> None:
        self._token = service_token

    async def authenticate(self, metadata: Metadata | None) -> Caller:
        require_service_token(metadata, self._token)
        for key, value in metadata or ():
            if key == TENANT_HEADER and isinstance(value, str):
                if not is_id(value, "ten"):
                    raise Unauthenticated(f"{TENANT_HEADER} is not a tenant id")
                return Caller(tenant_id=value, role=ADMIN)
        raise Unauthenticated(f"missing {TENANT_HEADER} metadata")
