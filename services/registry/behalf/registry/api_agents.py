"""RegistryService handlers for agents: create, get, list, disable, enable, delete."""

from __future__ import annotations

import asyncpg
import grpc

from behalf.common.ids import new_id
from behalf.registry import validation as v
from behalf.registry.api_support import Handlers, Unchanged, cursor, next_token, not_found
from behalf.registry.changes import write_event
from behalf.registry.keys import Role
from behalf.registry.store import agents, permissions
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2

READ = (Role.ADMIN, Role.AUDIT_READ)


class AgentHandlers(Handlers):
    """Agents: acting identities, with the kill switch."""

    async def CreateAgent(
        self, request: pb.CreateAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        name = v.name(request.name)
        kind = v.agent_kind(request.kind)
        description = v.description(request.description)
        labels = v.labels(request.labels)

        async def create(conn: asyncpg.Connection, revision: int) -> pb.CreateAgentResponse:
            agent = await agents.insert(
                conn,
                agent_id=new_id("agt"),
                tenant_id=caller.tenant_id,
                name=name,
                kind=kind,
                description=description,
                labels=labels,
                revision=revision,
            )
            await write_event(
                conn,
                tenant_id=caller.tenant_id,
                event_type="agent.created",
                revision=revision,
                subject=agent,
            )
            return pb.CreateAgentResponse(agent=agent, revision=revision)

        return await self._create_once(
            caller.tenant_id, "CreateAgent", request, pb.CreateAgentResponse.FromString, create
        )

    async def GetAgent(
        self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAgentResponse:
        caller = await self._auth(context, *READ)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        agent = await agents.get(self._pool, caller.tenant_id, agent_id)
        if agent is None:
            raise not_found("agent", agent_id)
        return pb.GetAgentResponse(agent=agent)

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgentsResponse:
        caller = await self._auth(context, *READ)
        kind = v.optional_agent_kind(request.kind)
        labels = v.labels(request.labels)
        limit = v.page(request.page_size)
        after = cursor("agents", request.page_token)
        rows = await agents.list_page(
            self._pool,
            caller.tenant_id,
            kind=kind,
            disabled=request.disabled if request.HasField("disabled") else None,
            labels=labels,
            after=after,
            limit=limit + 1,
        )
        return pb.ListAgentsResponse(
            agents=[a for a, _ in rows[:limit]], next_page_token=next_token("agents", rows, limit)
        )

    async def _set_agent_disabled(
        self, tenant_id: str, agent_id: str, disabled: bool
    ) -> resources_pb2.Agent:
        event_type = "agent.disabled" if disabled else "agent.enabled"

        async def change(conn: asyncpg.Connection, revision: int) -> resources_pb2.Agent:
            current = await agents.get(conn, tenant_id, agent_id, for_update=True)
            if current is None:
                raise not_found("agent", agent_id)
            if current.disabled == disabled:
                raise Unchanged(current)
            agent = await agents.set_disabled(
                conn, tenant_id, agent_id, disabled=disabled, revision=revision
            )
            assert agent is not None
            await write_event(
                conn, tenant_id=tenant_id, event_type=event_type, revision=revision, subject=agent
            )
            return agent

        return await self._mutate(change)

    async def DisableAgent(
        self, request: pb.DisableAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        wait = v.propagation_wait(request.wait)
        agent = await self._set_agent_disabled(caller.tenant_id, agent_id, True)
        propagation = await self._propagation(agent.revision, wait)
        return pb.DisableAgentResponse(
            agent=agent, revision=agent.revision, propagation=propagation
        )

    async def EnableAgent(
        self, request: pb.EnableAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnableAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        agent = await self._set_agent_disabled(caller.tenant_id, agent_id, False)
        return pb.EnableAgentResponse(agent=agent, revision=agent.revision)

    async def DeleteAgent(
        self, request: pb.DeleteAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        tenant_id = caller.tenant_id
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")

        async def delete(conn: asyncpg.Connection, revision: int) -> int:
            agent = await agents.mark_deleted(conn, tenant_id, agent_id, revision=revision)
            if agent is None:
                raise not_found("agent", agent_id)
            for permission in await permissions.revoke_all_for_agent(
                conn, tenant_id, agent_id, revision=revision
            ):
                await write_event(
                    conn,
                    tenant_id=tenant_id,
                    event_type="permission.revoked",
                    revision=revision,
                    subject=permission,
                )
            await write_event(
                conn,
                tenant_id=tenant_id,
                event_type="agent.deleted",
                revision=revision,
                subject=agent,
            )
            return revision

        return pb.DeleteAgentResponse(revision=await self._mutate(delete))
