"""RegistryService handlers for agents: create, get, list, update, disable, enable, delete."""

from __future__ import annotations

import grpc

from behalf.common.callers import READ_ROLES, Role
from behalf.common.errors import InvalidArgument
from behalf.registry import pages
from behalf.registry import validation as v
from behalf.registry.commands import agents
from behalf.registry.commands.agents import AgentChanges, AgentFilter, NewAgent
from behalf.registry.commands.idempotency import Once
from behalf.registry.handlers import Handlers
from behalf.v1 import registry_pb2 as pb
from behalf.v1 import resources_pb2


class AgentHandlers(Handlers):
    """Agents: acting identities, with the kill switch."""

    async def CreateAgent(
        self,
        request: pb.CreateAgentRequest,
        context: grpc.aio.ServicerContext[pb.CreateAgentRequest, pb.CreateAgentResponse],
    ) -> pb.CreateAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        new = NewAgent(
            name=v.name(request.name),
            kind=v.agent_kind(request.kind),
            description=v.description(request.description),
            labels=v.labels(request.labels),
            mode=v.optional_agent_mode(request.mode) or resources_pb2.AGENT_MODE_ENFORCED,
        )
        key = v.idempotency_key(request.idempotency_key)
        once = Once.of(caller.tenant_id, "CreateAgent", key, request)
        return await agents.create_agent(self._db, once, caller.tenant_id, new)

    async def GetAgent(
        self,
        request: pb.GetAgentRequest,
        context: grpc.aio.ServicerContext[pb.GetAgentRequest, pb.GetAgentResponse],
    ) -> pb.GetAgentResponse:
        caller = await self._auth(context, *READ_ROLES)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        return pb.GetAgentResponse(
            agent=await agents.get_agent(self._db, caller.tenant_id, agent_id)
        )

    async def ListAgents(
        self,
        request: pb.ListAgentsRequest,
        context: grpc.aio.ServicerContext[pb.ListAgentsRequest, pb.ListAgentsResponse],
    ) -> pb.ListAgentsResponse:
        caller = await self._auth(context, *READ_ROLES)
        which = AgentFilter(
            kind=v.optional_agent_kind(request.kind),
            disabled=request.disabled if request.HasField("disabled") else None,
            labels=v.labels(request.labels),
        )
        page = pages.page_request(
            pages.AGENTS, request.page_token, request.page_size, caller.tenant_id
        )
        items, token = await agents.list_agents(self._db, caller.tenant_id, which, page)
        return pb.ListAgentsResponse(agents=items, next_page_token=token)

    async def DisableAgent(
        self,
        request: pb.DisableAgentRequest,
        context: grpc.aio.ServicerContext[pb.DisableAgentRequest, pb.DisableAgentResponse],
    ) -> pb.DisableAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        wait = v.propagation_wait(request.wait)
        agent = await agents.set_agent_disabled(self._db, caller.tenant_id, agent_id, disabled=True)
        propagation = await self._propagation(agent.revision, wait)
        return pb.DisableAgentResponse(
            agent=agent, revision=agent.revision, propagation=propagation
        )

    async def EnableAgent(
        self,
        request: pb.EnableAgentRequest,
        context: grpc.aio.ServicerContext[pb.EnableAgentRequest, pb.EnableAgentResponse],
    ) -> pb.EnableAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        agent = await agents.set_agent_disabled(
            self._db, caller.tenant_id, agent_id, disabled=False
        )
        return pb.EnableAgentResponse(agent=agent, revision=agent.revision)

    async def UpdateAgent(
        self,
        request: pb.UpdateAgentRequest,
        context: grpc.aio.ServicerContext[pb.UpdateAgentRequest, pb.UpdateAgentResponse],
    ) -> pb.UpdateAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        if request.labels and not request.replace_labels:
            raise InvalidArgument("replace_labels", "must be true to set labels")
        changes = AgentChanges(
            mode=v.optional_agent_mode(request.mode),
            description=(
                v.description(request.description) if request.HasField("description") else None
            ),
            labels=v.labels(request.labels) if request.replace_labels else None,
        )
        agent = await agents.update_agent(self._db, caller.tenant_id, agent_id, changes)
        return pb.UpdateAgentResponse(agent=agent, revision=agent.revision)

    async def DeleteAgent(
        self,
        request: pb.DeleteAgentRequest,
        context: grpc.aio.ServicerContext[pb.DeleteAgentRequest, pb.DeleteAgentResponse],
    ) -> pb.DeleteAgentResponse:
        caller = await self._auth(context, Role.ADMIN)
        agent_id = v.require_id(request.agent_id, "agt", "agent_id")
        revision = await agents.delete_agent(self._db, caller.tenant_id, agent_id)
        return pb.DeleteAgentResponse(revision=revision)
