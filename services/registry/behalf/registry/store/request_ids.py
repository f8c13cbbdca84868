"""Request ids: each names exactly one request of one agent, by a digest of what it asked.

Budget reservations and approvals deduplicate on the Verify request id, per agent (another
agent's ids are neither taken nor seen). An agent chooses that
id, so the id alone proves nothing: the registry keeps a digest of the request's content with
it, and the same id with other content is refused instead of answered with the first outcome.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from behalf.registry.store._rows import Executor


class RequestIdReused(Exception):
    """The request id was already claimed by a request with different content."""


@dataclass(frozen=True)
class RequestFacts:
    """What one Verify asked for, as the registry's stateful steps see it."""

    tenant_id: str
    agent_id: str
    action: str
    resource: str
    amount_minor: int | None
    amount_currency: str | None
    permission_id: str
    request_id: str

    def digest(self) -> bytes:
        """SHA-256 of the content the request id names (everything but the id itself)."""
        content = [
            self.tenant_id,
            self.agent_id,
            self.action,
            self.resource,
            self.amount_minor,
            self.amount_currency,
            self.permission_id,
        ]
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).digest()


async def claim(conn: Executor, facts: RequestFacts) -> None:
    """Record that `facts.request_id` names this request, or raise `RequestIdReused`.

    Committed on its own, before the step it guards: a refusal or a failure of that step
    leaves the id bound to this content, so the id cannot be reused after a denial either.
    """
    digest = facts.digest()
    # An id claimed before ids were kept per agent (agent_id '') stays taken for every agent.
    inserted = await conn.fetchval(
        """INSERT INTO request_ids (tenant_id, agent_id, request_id, digest)
           SELECT $1, $2, $3, $4
           WHERE NOT EXISTS (SELECT 1 FROM request_ids
                             WHERE tenant_id = $1 AND agent_id = '' AND request_id = $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        facts.tenant_id,
        facts.agent_id,
        facts.request_id,
        digest,
    )
    if inserted:
        return
    # A separate statement: under READ COMMITTED it sees a claim committed while we waited.
    stored: bytes | None = await conn.fetchval(
        """SELECT digest FROM request_ids
           WHERE tenant_id = $1 AND agent_id IN ($2, '') AND request_id = $3
           ORDER BY agent_id LIMIT 1""",
        facts.tenant_id,
        facts.agent_id,
        facts.request_id,
    )
    if stored is None or bytes(stored) != digest:
        raise RequestIdReused(facts.request_id)
