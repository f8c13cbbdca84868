"""The global policy revision: taken by every policy change, in commit order."""

from __future__ import annotations

from behalf.registry.store._rows import Connection, Executor


async def next_revision(conn: Connection) -> int:
    """Take the next global policy revision. Holds the row lock until the transaction ends, so
    revisions (and outbox seqs) are in commit order. Call inside a transaction."""
    revision: int = await conn.fetchval(
        "UPDATE policy_revision SET revision = revision + 1 RETURNING revision"
    )
    return revision


async def current_revision(conn: Executor) -> int:
    """The latest committed policy revision."""
    revision: int = await conn.fetchval("SELECT revision FROM policy_revision")
    return revision
