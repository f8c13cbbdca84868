"""What every RegistryService handler shares: dependencies, auth, transactions, idempotency."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import asyncpg
import grpc
from google.protobuf.message import Message

from behalf.common.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from behalf.registry import validation as v
from behalf.registry.changes import next_revision
from behalf.registry.identities import ServiceCredentials
from behalf.registry.keys import Authenticator, Caller, Role
from behalf.registry.passport import PassportSigner
from behalf.registry.secret_box import SecretBox
from behalf.registry.store import idempotency, paging
from behalf.registry.templates import Catalogue
from behalf.v1 import events_pb2, registry_pb2

M = TypeVar("M", bound=Message)
T = TypeVar("T")


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

    async def get_decision(self, tenant_id: str, request_id: str) -> events_pb2.DecisionEvent: ...


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


class Unchanged(Exception):
    """Raised inside a mutation that turned out to change nothing: rolls back its revision."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result = result


def not_found(kind: str, object_id: str) -> NotFound:
    """The one message for a missing id and another tenant's id alike."""
    return NotFound(f"{kind} {object_id} not found")


def cursor(kind: str, token: str) -> paging.Cursor | None:
    try:
        return paging.decode(kind, token)
    except paging.BadPageToken as exc:
        raise InvalidArgument("page_token", str(exc)) from None


def next_token(kind: str, rows: Sequence[tuple[object, datetime]], limit: int) -> str:
    """A token for the page after `rows` (fetched with limit + 1), or empty on the last."""
    if len(rows) <= limit:
        return ""
    item, created_at = rows[limit - 1]
    return paging.encode(kind, created_at, str(getattr(item, _ID_FIELD[kind])))


# The id field of each paged list's items (an ApiKey also has an agent_id, so never guess).
_ID_FIELD = {
    "agents": "agent_id",
    "permissions": "permission_id",
    "approvals": "approval_id",
    "webhook_endpoints": "endpoint_id",
    "api_keys": "key_id",
}


def request_digest(request: Message) -> bytes:
    """SHA-256 of the request without its idempotency key, deterministically serialized."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("idempotency_key")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def _without(response: M, fields: tuple[str, ...]) -> M:
    """A copy of `response` with `fields` cleared."""
    if not fields:
        return response
    copy = type(response)()
    copy.CopyFrom(response)
    for name in fields:
        copy.ClearField(name)  # type: ignore[arg-type]
    return copy


class Handlers:
    """Base of the RegistryService handler groups."""

    def __init__(self, deps: RegistryDeps | None = None) -> None:
        self._attached = deps

    def attach(self, deps: RegistryDeps) -> None:
        """Give the handlers their dependencies (the app registers first, connects later)."""
        self._attached = deps

    @property
    def _deps(self) -> RegistryDeps:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._deps.pool

    async def _auth(self, context: grpc.aio.ServicerContext, *roles: Role) -> Caller:
        caller = await self._deps.authenticator.authenticate(context.invocation_metadata())
        caller.require(*roles)
        return caller

    async def _mutate(self, work: Callable[[asyncpg.Connection, int], Awaitable[T]]) -> T:
        """Run `work(conn, revision)` in one transaction that takes the next policy revision.

        The revision is taken first, so every mutation locks in the same order; `Unchanged`
        rolls the revision back and returns its result.
        """
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                result = await work(conn, await next_revision(conn))
        except Unchanged as exc:
            return exc.result  # type: ignore[return-value]
        self._deps.watcher.poke()
        return result

    async def _create_once(
        self,
        scope: str,
        operation: str,
        request: Message,
        parse: Callable[[bytes], M],
        work: Callable[[asyncpg.Connection, int], Awaitable[M]],
        *,
        with_revision: bool = True,
        shown_once: tuple[str, ...] = (),
    ) -> M:
        """Run `work(conn, revision)` once per idempotency key: same key and body give the
        first response, another body ALREADY_EXISTS. `revision` is 0 unless `with_revision`.

        A secret is shown once: the `shown_once` fields are cleared from the stored response,
        so a replay returns the object without its secret (whoever holds the idempotency key
        cannot read it again). Stored responses are kept encrypted anyway, for 24 h.
        """
        key = v.idempotency_key(request.idempotency_key)  # type: ignore[attr-defined]
        digest = request_digest(request)
        aad = f"{scope}/{operation}/{key}".encode()
        async with self._pool.acquire() as conn, conn.transaction():
            if key:
                await idempotency.lock(conn, scope, operation, key)
                found = await idempotency.find(conn, scope, operation, key)
                if found is not None:
                    if not hmac.compare_digest(found.request_hash, digest):
                        raise AlreadyExists(
                            "idempotency_key was already used with a different request body"
                        )
                    return parse(self._deps.idempotency_box.decrypt(found.response, aad))
            revision = await next_revision(conn) if with_revision else 0
            response = await work(conn, revision)
            if key:
                await idempotency.save(
                    conn,
                    scope,
                    operation,
                    key,
                    request_hash=digest,
                    response=self._deps.idempotency_box.encrypt(
                        _without(response, shown_once).SerializeToString(), aad
                    ),
                )
            return response

    async def _propagation(
        self, revision: int, wait: timedelta | None
    ) -> registry_pb2.Propagation | None:
        if wait is None:
            return None
        return await self._deps.watcher.wait_for_acks(revision, wait.total_seconds())
