"""Creates that run once per idempotency key: a replay gets the first response back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

from behalf.common.errors import AlreadyExists
from behalf.registry.commands.transaction import Db
from behalf.registry.store import idempotency
from behalf.registry.store._rows import Connection
from behalf.registry.store.revisions import next_revision

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Once:
    """A create's idempotency key (empty: none) in its scope, and the digest of its request."""

    scope: str
    operation: str
    key: str
    request_hash: bytes

    @classmethod
    def of(cls, scope: str, operation: str, key: str, request: Message) -> Once:
        """`key` is the request's validated idempotency key; it is left out of the digest."""
        return cls(scope, operation, key, request_digest(request))

    @property
    def aad(self) -> bytes:
        """Associated data binding a stored response to its key."""
        return f"{self.scope}/{self.operation}/{self.key}".encode()


NOT_ONCE = Once("", "", "", b"")


def request_digest(request: Message) -> bytes:
    """SHA-256 of the request without its idempotency key, deterministically serialized."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("idempotency_key")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def _without(response: M, fields: tuple[str, ...]) -> M:
    """A copy of `response` with `fields` cleared."""
    if not fields:
        return response
    copy = type(response)()
    copy.CopyFrom(response)
    for name in fields:
        copy.ClearField(name)
    return copy


async def create_once(
    db: Db,
    once: Once,
    parse: Callable[[bytes], M],
    work: Callable[[Connection, int], Awaitable[M]],
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
    box = db.responses
    if once.key and box is None:
        raise RuntimeError("idempotent creates need Db.responses")
    async with db.pool.acquire() as conn, conn.transaction():
        if once.key and box is not None:
            await idempotency.lock(conn, once.scope, once.operation, once.key)
            found = await idempotency.find(conn, once.scope, once.operation, once.key)
            if found is not None:
                if not hmac.compare_digest(found.request_hash, once.request_hash):
                    raise AlreadyExists(
                        "idempotency_key was already used with a different request body"
                    )
                return parse(box.decrypt(found.response, once.aad))
        revision = await next_revision(conn) if with_revision else 0
        response = await work(conn, revision)
        if once.key and box is not None:
            await idempotency.save(
                conn,
                once.scope,
                once.operation,
                once.key,
                request_hash=once.request_hash,
                response=box.encrypt(_without(response, shown_once).SerializeToString(), once.aad),
            )
    db.on_commit()
    return response
