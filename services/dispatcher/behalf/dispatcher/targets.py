"""Webhook endpoints and signing secrets per tenant, from the registry, cached and invalidated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
import structlog

from behalf.common.errors import Unavailable
from behalf.common.event_types import explicitly_wanted, is_test_type
from behalf.dispatcher.matching import type_matches
from behalf.v1 import internal_pb2, internal_pb2_grpc, resources_pb2

WEBHOOK_EVENT_PREFIX = "webhook."


@dataclass(frozen=True)
class Target:
    """One endpoint with the secrets that sign for it now (current first)."""

    endpoint_id: str
    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    disabled: bool
    secrets: tuple[str, ...]
    rate_per_second: float = 0.0  # the endpoint's own rate limit; 0: the dispatcher's default
    # When the previous secret's rotation overlap ends (Unix time); None: no overlap.
    previous_secret_expires_at: float | None = None

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"Target({self.endpoint_id!r}, {self.url!r}, disabled={self.disabled})"

    def signing_secrets(self, now: float) -> tuple[str, ...]:
        """The secrets that sign at `now`: the previous one only until its overlap ends, even
        if this target was cached before it did."""
        ends = self.previous_secret_expires_at
        if ends is not None and now >= ends:
            return self.secrets[:1]
        return self.secrets

    def wants(self, event_type: str) -> bool:
        """Enabled, able to sign, and subscribed: test-mode decisions only by a filter under
        `verification.test.` (never by an empty filter, `*` or `verification.*`)."""
        if self.disabled or not self.secrets:
            return False
        if is_test_type(event_type):
            explicit = explicitly_wanted(self.event_types)
            return bool(explicit) and type_matches(explicit, event_type)
        return type_matches(self.event_types, event_type)


_log = structlog.get_logger("targets")


class TargetSource(Protocol):
    """Where targets come from (the registry's internal RPC in production)."""

    async def list_targets(self, tenant_id: str) -> Sequence[Target]: ...


class RegistryTargetSource:
    """`RegistryInternalService.ListWebhookTargets` with the service credential."""

    def __init__(
        self, channel: grpc.aio.Channel, service_token: str, *, timeout_seconds: float = 5.0
    ) -> None:
        # protoc's _pb2_grpc modules carry no annotations.
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._timeout = timeout_seconds

    async def list_targets(self, tenant_id: str) -> Sequence[Target]:
        try:
            response = await self._stub.ListWebhookTargets(
                internal_pb2.ListWebhookTargetsRequest(tenant_id=tenant_id),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"registry ListWebhookTargets failed: {exc.code().name}") from exc
        return [
            Target(
                endpoint_id=t.endpoint.endpoint_id,
                tenant_id=t.endpoint.tenant_id or tenant_id,
                url=t.endpoint.url,
                event_types=tuple(t.endpoint.event_types),
                disabled=t.endpoint.disabled,
                secrets=tuple(t.signing_secrets),
                rate_per_second=t.endpoint.rate_limit_per_second,
                previous_secret_expires_at=_overlap_end(t.endpoint),
            )
            for t in response.targets
        ]

    async def suspend(self, tenant_id: str, endpoint_id: str, reason: str) -> bool:
        """Ask the registry to disable an endpoint the dispatcher suspended (it answered 410
        Gone, or failed for a whole health window): whether the registry has it, which makes it
        visible and emits `webhook.endpoint_disabled`. An endpoint the registry no longer has
        needs nothing more."""
        try:
            await self._stub.SuspendWebhookEndpoint(
                internal_pb2.SuspendWebhookEndpointRequest(
                    tenant_id=tenant_id, endpoint_id=endpoint_id, reason=reason
                ),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return True
            _log.warning("endpoint_suspend_not_reported", code=exc.code().name)
            return False
        return True


def _overlap_end(endpoint: resources_pb2.WebhookEndpoint) -> float | None:
    if not endpoint.HasField("previous_secret_expire_time"):
        return None
    expires = endpoint.previous_secret_expire_time
    return expires.seconds + expires.nanos / 1e9


@dataclass
class _Entry:
    targets: tuple[Target, ...]
    loaded_at: float
    generation: int


class TargetCache:
    """Per-tenant targets with a TTL; one registry call per tenant at a time.

    `invalidate(tenant)` (on every `webhook.*` lifecycle event) drops the entry; a load that was
    in flight when it happened is not cached, so a stale answer never outlives an invalidation.
    """

    def __init__(
        self, source: TargetSource, *, ttl_seconds: float = 60.0, max_tenants: int = 10_000
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._max = max_tenants
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[tuple[Target, ...]]] = {}
        self._generation: dict[str, int] = {}

    def invalidate(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
        self._loading.pop(tenant_id, None)
        self._generation[tenant_id] = self._generation.get(tenant_id, 0) + 1

    async def targets(self, tenant_id: str) -> tuple[Target, ...]:
        entry = self._entries.get(tenant_id)
        if entry is not None and time.monotonic() - entry.loaded_at < self._ttl:
            return entry.targets
        loading = self._loading.get(tenant_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(tenant_id))
            self._loading[tenant_id] = loading
            loading.add_done_callback(lambda f: self._forget(tenant_id, f))
        return await asyncio.shield(loading)

    async def target(self, tenant_id: str, endpoint_id: str) -> Target | None:
        for target in await self.targets(tenant_id):
            if target.endpoint_id == endpoint_id:
                return target
        return None

    def _forget(self, tenant_id: str, future: asyncio.Future[tuple[Target, ...]]) -> None:
        if self._loading.get(tenant_id) is future:
            del self._loading[tenant_id]
        if not future.cancelled():
            future.exception()  # mark retrieved; callers saw it already

    async def _load(self, tenant_id: str) -> tuple[Target, ...]:
        generation = self._generation.get(tenant_id, 0)
        loaded = tuple(await self._source.list_targets(tenant_id))
        if self._generation.get(tenant_id, 0) == generation:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[tenant_id] = _Entry(loaded, time.monotonic(), generation)
        return loaded
