"""How a command runs: one transaction that takes the next policy revision, or changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import asyncpg

from behalf.registry.secret_box import SecretBox
from behalf.registry.store._rows import Connection
from behalf.registry.store.revisions import next_revision

T = TypeVar("T")


def _nobody() -> None:
    """No one to tell that policy changed."""


@dataclass(frozen=True)
class Db:
    """The pool commands run on, and who to tell when a policy change has committed."""

    pool: asyncpg.Pool
    on_commit: Callable[[], None] = _nobody
    # Encrypts the responses kept under idempotency keys (public creates only).
    responses: SecretBox | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a change returns: its result, and whether it changed anything (else rolled back)."""

    value: T
    changed: bool = True


def unchanged(value: T) -> Outcome[T]:
    """The change turned out to change nothing: give back its revision, return `value`."""
    return Outcome(value, changed=False)


async def change(db: Db, work: Callable[[Connection, int], Awaitable[Outcome[T]]]) -> T:
    """Run `work(conn, revision)` in one transaction that takes the next policy revision.

    The revision is taken first, so every change locks in the same order; an unchanged outcome
    rolls the transaction (and its revision) back.
    """
    async with db.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            outcome = await work(conn, await next_revision(conn))
        except BaseException:
            await transaction.rollback()
            raise
        if not outcome.changed:
            await transaction.rollback()
            return outcome.value
        await transaction.commit()
    db.on_commit()
    return outcome.value
