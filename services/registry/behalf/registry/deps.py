"""What the two APIs are built with: the pool, credentials, boxes, and narrow Protocols."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import asyncpg
import grpc

from behalf.registry.identities import ServiceCredentials
from behalf.registry.keys import Authenticator
from behalf.registry.passport import PassportSigner
from behalf.registry.secret_box import SecretBox
from behalf.registry.templates import Catalogue
from behalf.v1 import events_pb2, internal_pb2, registry_pb2

DEFAULT_APPROVAL_WINDOW = timedelta(minutes=15)


class PropagationWatcher(Protocol):
    """The part of the watch hub mutations use (behalf.registry.watch.WatchHub)."""

    async def wait_for_acks(
        self,
        revision: int,
        timeout: float,  # noqa: ASYNC109 - the hub bounds the wait itself
    ) -> registry_pb2.Propagation: ...

    def poke(self) -> None:
        """Tell the hub a mutation has just committed."""

    def verifiers(self) -> list[registry_pb2.VerifierStatus]: ...


class AuditReader(Protocol):
    """Audit queries (behalf.registry.audit.AuditQueries)."""

    async def list_decisions(
        self, tenant_id: str, request: registry_pb2.ListDecisionsRequest
    ) -> registry_pb2.ListDecisionsResponse: ...

    async def count_decisions(
        self, tenant_id: str, request: registry_pb2.CountDecisionsRequest
    ) -> registry_pb2.CountDecisionsResponse: ...

    async def get_decision(self, tenant_id: str, request_id: str) -> events_pb2.DecisionEvent: ...

    async def get_event(self, tenant_id: str, event_id: str) -> events_pb2.DecisionEvent: ...

    async def get_asking(self, tenant_id: str, approval_id: str) -> events_pb2.DecisionEvent: ...


@dataclass(frozen=True)
class RegistryDeps:
    """Everything the public API needs, built once by the app (or a test)."""

    pool: asyncpg.Pool
    authenticator: Authenticator
    credentials: ServiceCredentials  # service identities (CreateTenant: the operator only)
    webhook_box: SecretBox
    idempotency_box: SecretBox
    signer: PassportSigner
    watcher: PropagationWatcher
    audit: AuditReader
    allow_private_webhook_urls: bool = False
    catalogue: Catalogue = field(default_factory=Catalogue)


class PolicyStream(Protocol):
    """The watch hub's stream (behalf.registry.watch.WatchHub.serve)."""

    def serve(
        self,
        request_iterator: AsyncIterator[internal_pb2.WatchPolicyRequest],
        context: grpc.aio.ServicerContext[
            internal_pb2.WatchPolicyRequest, internal_pb2.WatchPolicyResponse
        ],
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]: ...


@dataclass(frozen=True)
class InternalDeps:
    """What the internal API needs."""

    pool: asyncpg.Pool
    credentials: ServiceCredentials
    webhook_box: SecretBox
    stream: PolicyStream
    authenticator: Authenticator
    approval_window: timedelta = DEFAULT_APPROVAL_WINDOW
