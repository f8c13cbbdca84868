"""Approvals: the pending queue (and resolved ones), approve or deny with a comment."""

from __future__ import annotations

from aiohttp import web

from behalf.common.ids import is_id
from behalf.console import forms
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
STATES = {
    name.removeprefix("APPROVAL_STATE_"): number
    for name, number in resources_pb2.ApprovalState.items()
    if number
}


@routes.get("/approvals")
async def approvals(request: web.Request) -> web.StreamResponse:
    session = require_session(request)
    state = request.query.get("state", "PENDING")
    query = registry_pb2.ListApprovalsRequest(
        page_size=200, page_token=request.query.get("page_token", "")[:500]
    )
    if state in STATES:
        query.state = STATES[state]  # type: ignore[assignment]
    else:
        state = ""
    # One agent's requests: a flood of approvals from the others never hides them.
    agent_id = request.query.get("agent_id", "")
    if is_id(agent_id, "agt"):
        query.agent_id = agent_id
    else:
        agent_id = ""
    backend = request.app[BACKEND]
    listed = await backend.call(backend.registry.ListApprovals, query, session.api_key)
    return render(
        request,
        "approvals.html",
        approvals=list(listed.approvals),
        next_page_token=listed.next_page_token,
        state=state,
        states=STATES,
        agent_id=agent_id,
    )


@routes.post("/approvals/{approval_id}/resolve")
async def resolve(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    approval_id = request.match_info["approval_id"]
    if not is_id(approval_id, "apr"):
        raise web.HTTPNotFound()
    checked = forms.resolve_form(form_dict(await request.post()))
    if not checked.ok:
        session.flash("error", "; ".join(f"{k} {v}" for k, v in checked.errors.items()))
        raise redirect("/approvals")
    assert checked.value is not None
    approve, comment = checked.value
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.ResolveApproval,
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=approve, resolved_by=session.actor, comment=comment
        ),
        session.api_key,
    )
    verb = "approved" if approve else "denied"
    session.flash("ok", f"Approval {done.approval.approval_id} {verb}.")
    raise redirect("/approvals")
