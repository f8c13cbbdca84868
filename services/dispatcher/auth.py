"""Who is calling DispatcherService: a tenant and a role, from gRPC metadata.

The dispatcher keeps no key table and must not read the registry's: a tenant API key is
resolved by the registry's internal `AuthenticateApiKey` RPC and cached briefly. Operators may
instead present the service token together with an `x-behalf-tenant` header naming the tenant
to act for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from behalf.common.auth import bearer_token, require_service_token
from behalf.common.errors import PermissionDenied, Unauthenticated, Unavailable
from behalf.common.ids import is_id
from behalf.v1 import internal_pb2, internal_pb2_grpc, resources_pb2

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


_ROLES = {resources_pb2.ROLE_ADMIN: ADMIN, resources_pb2.ROLE_AUDIT_READ: AUDIT_READ}
_CACHE_SECONDS = 30.0


class RegistryKeyAuthenticator:
    """Tenant API keys checked by the registry (cached 30 s by digest); or the operator path."""

    def __init__(self, channel: grpc.aio.Channel, service_token: str) -> None:
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)
        self._service_token = service_token
        self._operator = ServiceTokenAuthenticator(service_token)
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._cache: dict[bytes, tuple[float, Caller]] = {}

    async def authenticate(self, metadata: Metadata | None) -> Caller:
        token = bearer_token(metadata)
        if token == self._service_token:
            return await self._operator.authenticate(metadata)
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            reply = await self._stub.AuthenticateApiKey(
                internal_pb2.AuthenticateApiKeyRequest(api_key=token),
                metadata=self._metadata,
                timeout=5,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated("invalid API key") from None
            raise Unavailable("cannot reach the registry to check the API key") from None
        role = _ROLES.get(reply.role)
        if role is None:
            raise PermissionDenied("this key's role may not use the dispatcher")
        caller = Caller(tenant_id=reply.tenant_id, role=role)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic() + _CACHE_SECONDS, caller)
        return caller
