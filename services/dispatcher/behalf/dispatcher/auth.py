"""Who is calling DispatcherService: a tenant and a role, from a tenant API key.

The dispatcher keeps no key table and must not read the registry's: a tenant API key is
resolved by the registry's internal `AuthenticateApiKey` RPC, and an answer is reused for at
most `CACHE_SECONDS` counted from before the RPC was sent, so a key revoked in the registry stops
working here within that time. The service credential never acts for a tenant: presented here,
it is refused.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import grpc

from behalf.common.auth import bearer_token
from behalf.common.callers import READ_ROLES, Caller, Role, key_digest
from behalf.common.errors import PermissionDenied, Unauthenticated, Unavailable
from behalf.v1 import internal_pb2, internal_pb2_grpc

Metadata = Iterable[tuple[str, str | bytes]]

# How long a positive answer is reused. Revocation must bite within 1 s; half that leaves room
# for the registry round trip that produced the answer.
CACHE_SECONDS = 0.5
_CACHE_LIMIT = 10_000


class Authenticator(Protocol):
    """Maps request metadata to a caller, or raises Unauthenticated."""

    async def authenticate(self, metadata: Metadata | None) -> Caller: ...


class RegistryKeyAuthenticator:
    """Tenant API keys checked by the registry, answers reused for `CACHE_SECONDS` by digest."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        service_token: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # protoc's _pb2_grpc modules carry no annotations.
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)  # type: ignore[no-untyped-call]
        self._service_token = service_token.encode()
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Caller]] = {}

    async def authenticate(self, metadata: Metadata | None) -> Caller:
        token = bearer_token(metadata)
        if hmac.compare_digest(token.encode(), self._service_token):
            raise Unauthenticated("the service credential cannot act for a tenant")
        digest = key_digest(token)
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
        role = Role.from_proto(reply.role)
        if role is None or role not in READ_ROLES:
            raise PermissionDenied("this key's role may not use the dispatcher")
        return Caller(tenant_id=reply.tenant_id, key_id=reply.key_id, role=role)
