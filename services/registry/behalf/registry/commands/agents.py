"""Agents: create, read, list, update (mode, description, labels), the kill switch (disable,
enable), delete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from behalf.common.ids import new_id
from behalf.registry.commands.errors import not_found
from behalf.registry.commands.idempotency import Once, create_once
from behalf.registry.commands.transaction import Db, Outcome, change, unchanged
from behalf.registry.pages import PageRequest
from behalf.registry.store import agents, approvals, permissions, tenants
from behalf.registry.store._rows import Connection
from behalf.registry.store.outbox import Subject, write_event
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2


@dataclass(frozen=True)
class NewAgent:
    """A validated agent to create."""

    name: str
    kind: int
    description: str
    labels: Mapping[str, str]
    mode: int = resources_pb2.AGENT_MODE_ENFORCED


@dataclass(frozen=True)
class AgentChanges:
    """What UpdateAgent sets; None leaves a field as it is."""

    mode: int | None = None
    description: str | None = None
    labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class AgentFilter:
    """Which of a tenant's agents a list shows (None: any)."""

    kind: int | None
    disabled: bool | None
    labels: Mapping[str, str]


async def create_agent(db: Db, once: Once, tenant_id: str, new: NewAgent) -> pb.CreateAgentResponse:
    async def create(conn: Connection, revision: int) -> pb.CreateAgentResponse:
        agent = await agents.insert(
            conn,
            agent_id=new_id("agt"),
            tenant_id=tenant_id,
            name=new.name,
            kind=new.kind,
            description=new.description,
            labels=new.labels,
            revision=revision,
            mode=new.mode,
        )
        await write_event(
            conn, tenant_id=tenant_id, event_type="agent.created", revision=revision, subject=agent
        )
        return pb.CreateAgentResponse(agent=agent, revision=revision)

    return await create_once(db, once, pb.CreateAgentResponse.FromString, create)


async def get_agent(db: Db, tenant_id: str, agent_id: str) -> resources_pb2.Agent:
    agent = await agents.get(db.pool, tenant_id, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    return agent


async def list_agents(
    db: Db, tenant_id: str, which: AgentFilter, page: PageRequest[resources_pb2.Agent]
) -> tuple[list[resources_pb2.Agent], str]:
    rows = await agents.list_page(
        db.pool,
        tenant_id,
        kind=which.kind,
        disabled=which.disabled,
        labels=which.labels,
        after=page.cursor,
        limit=page.fetch,
    )
    return page.split(rows)


async def set_agent_disabled(
    db: Db, tenant_id: str, agent_id: str, *, disabled: bool
) -> resources_pb2.Agent:
    """Disable or enable an agent; setting the state it is in changes nothing."""
    event_type = "agent.disabled" if disabled else "agent.enabled"

    async def flip(conn: Connection, revision: int) -> Outcome[resources_pb2.Agent]:
        current = await agents.get(conn, tenant_id, agent_id, for_update=True)
        if current is None:
            raise not_found("agent", agent_id)
        if current.disabled == disabled:
            return unchanged(current)
        agent = await agents.set_disabled(
            conn, tenant_id, agent_id, disabled=disabled, revision=revision
        )
        if agent is None:  # the row is locked: it cannot have gone
            raise not_found("agent", agent_id)
        await write_event(
            conn, tenant_id=tenant_id, event_type=event_type, revision=revision, subject=agent
        )
        return Outcome(agent)

    return await change(db, flip)


async def update_agent(
    db: Db, tenant_id: str, agent_id: str, changes: AgentChanges
) -> resources_pb2.Agent:
    """Set the agent's mode, description or labels at a new revision, with an `agent.updated`
    lifecycle event; an update that changes nothing commits nothing."""

    async def apply(conn: Connection, revision: int) -> Outcome[resources_pb2.Agent]:
        current = await agents.get(conn, tenant_id, agent_id, for_update=True)
        if current is None:
            raise not_found("agent", agent_id)
        mode = changes.mode if changes.mode is not None else effective_mode(current)
        description = (
            changes.description if changes.description is not None else current.description
        )
        labels = dict(changes.labels) if changes.labels is not None else dict(current.labels)
        if (mode, description, labels) == (
            effective_mode(current),
            current.description,
            dict(current.labels),
        ):
            return unchanged(current)
        agent = await agents.update(
            conn,
            tenant_id,
            agent_id,
            mode=mode,
            description=description,
            labels=labels,
            revision=revision,
        )
        if agent is None:  # the row is locked: it cannot have gone
            raise not_found("agent", agent_id)
        await write_event(
            conn, tenant_id=tenant_id, event_type="agent.updated", revision=revision, subject=agent
        )
        return Outcome(agent)

    return await change(db, apply)


def effective_mode(agent: resources_pb2.Agent) -> int:
    """An agent's mode, unspecified read as enforced."""
    return agent.mode or resources_pb2.AGENT_MODE_ENFORCED


async def delete_agent(db: Db, tenant_id: str, agent_id: str) -> int:
    """Delete an agent, and revoke its permissions and the keys bound to it and end its live
    approvals, at one revision (returned): nothing it held outlives it."""

    async def delete(conn: Connection, revision: int) -> Outcome[int]:
        agent = await agents.mark_deleted(conn, tenant_id, agent_id, revision=revision)
        if agent is None:
            raise not_found("agent", agent_id)
        ended: list[tuple[str, Subject]] = [
            ("permission.revoked", p)
            for p in await permissions.revoke_all_for_agent(
                conn, tenant_id, agent_id, revision=revision
            )
        ]
        ended += [
            ("api_key.revoked", k)
            for k in await tenants.revoke_keys_bound_to(conn, tenant_id, agent_id)
        ]
        ended += [
            ("approval.expired", a)
            for a in await approvals.expire_live_for_agent(conn, tenant_id, agent_id)
        ]
        for event_type, subject in ended:
            await write_event(
                conn, tenant_id=tenant_id, event_type=event_type, revision=revision, subject=subject
            )
        await write_event(
            conn, tenant_id=tenant_id, event_type="agent.deleted", revision=revision, subject=agent
        )
        return Outcome(revision)

    return await change(db, delete)
