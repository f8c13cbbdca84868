"""Named transaction locks: PostgreSQL advisory locks keyed by a hash of a name."""

from __future__ import annotations

import hashlib

from behalf.registry.store._rows import Executor


async def lock_until_commit(conn: Executor, *name: str) -> None:
    """Serialise every transaction that takes the lock of this name until it ends."""
    digest = hashlib.sha256("\n".join(name).encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
