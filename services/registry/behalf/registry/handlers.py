"""The base of the RegistryService handler groups: dependencies, the caller, the wait for acks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar

import grpc

from behalf.common.callers import Caller, Role
from behalf.common.errors import Unavailable
from behalf.registry.commands.transaction import Db
from behalf.registry.deps import RegistryDeps
from behalf.v1 import registry_pb2

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def metadata(context: grpc.aio.ServicerContext[Req, Resp]) -> Sequence[tuple[str, str | bytes]]:
    """A call's invocation metadata, as the credential checks read it."""
    return tuple(context.invocation_metadata() or ())


class Handlers:
    """Holds the dependencies, attached after the servicer is registered."""

    def __init__(self, deps: RegistryDeps | None = None) -> None:
        self._attached: tuple[RegistryDeps, Db] | None = None
        if deps is not None:
            self.attach(deps)

    def attach(self, deps: RegistryDeps) -> None:
        """Give the handlers their dependencies (the app registers first, connects later)."""
        db = Db(deps.pool, on_commit=deps.watcher.poke, responses=deps.idempotency_box)
        self._attached = (deps, db)

    @property
    def _deps(self) -> RegistryDeps:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached[0]

    @property
    def _db(self) -> Db:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached[1]

    async def _auth(self, context: grpc.aio.ServicerContext[Req, Resp], *roles: Role) -> Caller:
        caller = await self._deps.authenticator.authenticate(metadata(context))
        caller.require(*roles)
        return caller

    async def _propagation(
        self, revision: int, wait: timedelta | None
    ) -> registry_pb2.Propagation | None:
        if wait is None:
            return None
        return await self._deps.watcher.wait_for_acks(revision, wait.total_seconds())
