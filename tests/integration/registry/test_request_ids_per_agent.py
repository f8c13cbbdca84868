"""Request ids are claimed per agent, against real PostgreSQL; ids claimed before that stay
taken for every agent."""

from __future__ import annotations

import asyncpg
import pytest

from behalf.registry.store.request_ids import RequestFacts, RequestIdReused, claim

pytestmark = pytest.mark.integration


def _facts(agent_id: str, amount_minor: int = 100, request_id: str = "order-17") -> RequestFacts:
    return RequestFacts(
        tenant_id="ten_a",
        agent_id=agent_id,
        action="purchase",
        resource="coachella.com",
        amount_minor=amount_minor,
        amount_currency="USD",
        permission_id="prm_a",
        request_id=request_id,
    )


async def test_an_id_names_one_request_of_each_agent(registry_pool: asyncpg.Pool) -> None:
    """Two agents may use one id; each agent's id still names one request."""
    async with registry_pool.acquire() as conn:
        await claim(conn, _facts("agt_a"))
        await claim(conn, _facts("agt_b", amount_minor=999))
        await claim(conn, _facts("agt_a"))  # the same request again
        with pytest.raises(RequestIdReused):
            await claim(conn, _facts("agt_a", amount_minor=999))
        with pytest.raises(RequestIdReused):
            await claim(conn, _facts("agt_b"))


async def test_an_id_claimed_before_ids_were_per_agent_stays_taken(
    registry_pool: asyncpg.Pool,
) -> None:
    """A row the migration could not give an agent (agent_id '') meets every agent's claim: the
    request it named may repeat, nothing else may use the id."""
    legacy = _facts("agt_a", request_id="order-1")
    async with registry_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO request_ids (tenant_id, agent_id, request_id, digest)
               VALUES ($1, '', $2, $3)""",
            legacy.tenant_id,
            legacy.request_id,
            legacy.digest(),
        )
        await claim(conn, legacy)
        for other in (_facts("agt_b", request_id="order-1"), _facts("agt_a", 5, "order-1")):
            with pytest.raises(RequestIdReused):
                await claim(conn, other)
        rows = await conn.fetchval("SELECT count(*) FROM request_ids WHERE request_id = 'order-1'")
        assert rows == 1
