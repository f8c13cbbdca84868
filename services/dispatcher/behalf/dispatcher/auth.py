"""Who is calling DispatcherService: a tenant and a role, from a tenant API key.

The dispatcher keeps no key table and must not read the registry's: a tenant API key is
resolved by the registry's internal `AuthenticateApiKey` RPC, and an answer is reused for at
most `CACHE_SECONDS` counted from before the RPC was sent, so a key revoked in the registry stops
working here within that time. The service credential never acts for a tenant: presented here,
it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from behalf.common.auth import bearer_token
from behalf.common.errors import PermissionDenied, Unauthenticated, Unavailable
from behalf.v1 import internal_pb2, internal_pb2_grpc, resources_pb2

Metadata = Sequence[tuple[str, str | bytes]]

ADMIN = "admin"
AUDIT_READ = "audit-read"

# How long a positive answer is reused. Revocation must bite within 1 s; half that leaves room
# for the registry round trip that produced the answer.
CACHE_SECONDS = 0.5
_CACHE_LIMIT = 10_000


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


_ROLES = {resources_pb2.ROLE_ADMIN: ADMIN, resources_pb2.ROLE_AUDIT_READ: AUDIT_READ}


class RegistryKeyAuthenticator:
    """Tenant API keys checked by the registry, answers reused for `CACHE_SECONDS` by digest."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        service_token: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)
        self._service_token = service_token.encode()
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Caller]] = {}

    async def authenticate(self, metadata: Metadata | None) -> Caller:
        token = bearer_token(metadata)
        secret = token.encode()
        if hmac.compare_digest(secret, self._service_token):
            raise Unauthenticated("the service credential cannot act for a tenant")
        digest = hashlib.sha256(secret).digest()
        asked_at = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > asked_at:
            return cached[1]
        caller = await self._ask_registry(token)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        # Counted from before the question: an answer read just before a revocation committed
        # is never reused past CACHE_SECONDS after it.
        self._cache[digest] = (asked_at + CACHE_SECONDS, caller)
        return caller

    async def _ask_registry(self, api_key: str) -> Caller:
        try:
            reply = await self._stub.AuthenticateApiKey(
                internal_pb2.AuthenticateApiKeyRequest(api_key=api_key),
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
        return Caller(tenant_id=reply.tenant_id, role=role)
