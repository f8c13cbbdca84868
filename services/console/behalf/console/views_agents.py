"""Agents: list, create (native or external), disable and enable behind a confirmation."""

from __future__ import annotations

from aiohttp import web

from behalf.common.ids import is_id
from behalf.console import forms
from behalf.console.backend import BackendError
from behalf.console.web import (
    BACKEND,
    form_dict,
    redirect,
    render,
    require_admin,
    require_session,
)
from behalf.v1 import registry_pb2, resources_pb2

routes = web.RouteTableDef()
KIND_FILTERS = {
    "native": resources_pb2.AGENT_KIND_NATIVE,
    "external": resources_pb2.AGENT_KIND_EXTERNAL,
}


def agent_id_of(request: web.Request) -> str:
    agent_id = request.match_info["agent_id"]
    if not is_id(agent_id, "agt"):
        raise web.HTTPNotFound()
    return agent_id


async def _list_page(request: web.Request, **extra: object) -> web.Response:
    session = require_session(request)
    backend = request.app[BACKEND]
    query = registry_pb2.ListAgentsRequest(
        page_size=100, page_token=request.query.get("page_token", "")[:500]
    )
    kind = request.query.get("kind", "")
    if kind in KIND_FILTERS:
        query.kind = KIND_FILTERS[kind]
    state = request.query.get("state", "")
    if state in {"enabled", "disabled"}:
        query.disabled = state == "disabled"
    listed = await backend.call(backend.registry.ListAgents, query, session.api_key)
    return render(
        request,
        "agents.html",
        agents=list(listed.agents),
        next_page_token=listed.next_page_token,
        kind=kind,
        state=state,
        **extra,  # type: ignore[arg-type]
    )


@routes.get("/agents")
async def agents(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@routes.post("/agents")
async def create_agent(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    data = form_dict(await request.post())
    checked = forms.agent_form(data)
    if checked.ok:
        assert checked.value is not None
        backend = request.app[BACKEND]
        try:
            created = await backend.call(
                backend.registry.CreateAgent, checked.value, session.api_key
            )
        except BackendError as exc:
            if exc.code.name != "INVALID_ARGUMENT":
                raise
            checked.errors["form"] = str(exc)
        else:
            session.flash("ok", f"Agent “{created.agent.name}” created.")
            raise redirect(f"/agents/{created.agent.agent_id}")
    response = await _list_page(request, errors=checked.errors, form=data)
    response.set_status(400)
    return response


@routes.get("/agents/{agent_id}/confirm")
async def confirm(request: web.Request) -> web.StreamResponse:
    """A confirmation page before the kill switch (or turning it off), and before moving an
    agent between manual test mode and enforcement."""
    session = require_admin(request)
    agent_id = agent_id_of(request)
    action = request.query.get("action", "")
    if action not in {"disable", "enable", "enforce", "test"}:
        raise redirect(f"/agents/{agent_id}")
    backend = request.app[BACKEND]
    agent = await backend.call(
        backend.registry.GetAgent, registry_pb2.GetAgentRequest(agent_id=agent_id), session.api_key
    )
    return render(request, "confirm_agent.html", agent=agent.agent, action=action)


@routes.post("/agents/{agent_id}/disable")
async def disable(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    agent_id = agent_id_of(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.DisableAgent,
        registry_pb2.DisableAgentRequest(
            agent_id=agent_id, wait=registry_pb2.PropagationWait(enabled=True)
        ),
        session.api_key,
    )
    reached = done.propagation
    session.flash(
        "ok",
        f"Agent “{done.agent.name}” disabled at revision {done.revision}; "
        f"{reached.acked_verifiers} of {reached.connected_verifiers} verifiers have applied it.",
    )
    raise redirect(f"/agents/{agent_id}")


@routes.post("/agents/{agent_id}/enable")
async def enable(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    agent_id = agent_id_of(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.EnableAgent,
        registry_pb2.EnableAgentRequest(agent_id=agent_id),
        session.api_key,
    )
    session.flash("ok", f"Agent “{done.agent.name}” enabled at revision {done.revision}.")
    raise redirect(f"/agents/{agent_id}")


_MODES = {"enforce": resources_pb2.AGENT_MODE_ENFORCED, "test": resources_pb2.AGENT_MODE_TEST}


@routes.post("/agents/{agent_id}/{action:enforce|test}")
async def set_mode(request: web.Request) -> web.StreamResponse:
    """Move an agent to enforcement, or back to manual test mode."""
    session = require_admin(request)
    agent_id = agent_id_of(request)
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.UpdateAgent,
        registry_pb2.UpdateAgentRequest(
            agent_id=agent_id, mode=_MODES[request.match_info["action"]]
        ),
        session.api_key,
    )
    where = "enforced" if done.agent.mode != resources_pb2.AGENT_MODE_TEST else "in test mode"
    session.flash("ok", f"Agent “{done.agent.name}” {where} from revision {done.revision}.")
    raise redirect(f"/agents/{agent_id}")
