"""An agent's passport: permissions with constraints and expiry, grants, revocations, exports."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from google.protobuf import duration_pb2

from behalf import PassportError, SignedPassport
from behalf.common.ids import is_id
from behalf.console import forms
from behalf.console.backend import BackendError
from behalf.console.testlinks_admin import links_of
from behalf.console.views_agents import agent_id_of
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
EXPORT_VALIDITY = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


async def _passport_page(request: web.Request, **extra: object) -> web.Response:
    session = require_session(request)
    agent_id = agent_id_of(request)
    backend = request.app[BACKEND]
    key = session.api_key
    agent = (
        await backend.call(
            backend.registry.GetAgent, registry_pb2.GetAgentRequest(agent_id=agent_id), key
        )
    ).agent
    inactive = request.query.get("inactive") == "1"
    permissions = await backend.call(
        backend.registry.ListPermissions,
        registry_pb2.ListPermissionsRequest(
            agent_id=agent_id, include_inactive=inactive, page_size=500
        ),
        key,
    )
    templates = await backend.call(
        backend.registry.ListScopeTemplates, registry_pb2.ListScopeTemplatesRequest(), key
    )
    links = []
    new_link = ""
    if session.is_admin and agent.kind == resources_pb2.AGENT_KIND_EXTERNAL:
        links = await links_of(backend, key, agent_id)
        new_link = session.once.pop(f"link:{agent_id}", "")
    return render(
        request,
        "passport.html",
        agent=agent,
        permissions=list(permissions.permissions),
        templates=sorted(templates.templates, key=lambda t: (t.category, t.name)),
        inactive=inactive,
        links=links,
        new_link=new_link,
        **{"exported": None, "envelope": "", **extra},  # type: ignore[arg-type]
    )


@routes.get("/agents/{agent_id}")
async def passport(request: web.Request) -> web.StreamResponse:
    return await _passport_page(request)


@routes.post("/agents/{agent_id}/permissions")
async def grant(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    agent_id = agent_id_of(request)
    data = form_dict(await request.post())
    checked = forms.grant_form(agent_id, data)
    if checked.ok:
        assert checked.value is not None
        backend = request.app[BACKEND]
        try:
            granted = await backend.call(
                backend.registry.GrantPermission, checked.value, session.api_key
            )
        except BackendError as exc:
            if exc.code.name not in {"INVALID_ARGUMENT", "FAILED_PRECONDITION"}:
                raise
            checked.errors["form"] = str(exc)
        else:
            permission = granted.permission
            session.flash(
                "ok",
                f"Granted {permission.template_name or 'permission'} "
                f"({permission.permission_id}) at revision {granted.revision}.",
            )
            raise redirect(f"/agents/{agent_id}")
    response = await _passport_page(request, errors=checked.errors, form=data)
    response.set_status(400)
    return response


@routes.post("/permissions/{permission_id}/revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    permission_id = request.match_info["permission_id"]
    if not is_id(permission_id, "prm"):
        raise web.HTTPNotFound()
    backend = request.app[BACKEND]
    done = await backend.call(
        backend.registry.RevokePermission,
        registry_pb2.RevokePermissionRequest(
            permission_id=permission_id, wait=registry_pb2.PropagationWait(enabled=True)
        ),
        session.api_key,
    )
    session.flash("ok", f"Permission {permission_id} revoked at revision {done.revision}.")
    raise redirect(f"/agents/{done.permission.agent_id}")


@routes.post("/agents/{agent_id}/passport")
async def export(request: web.Request) -> web.StreamResponse:
    """Export a signed passport valid for the chosen time, checked against the registry's
    published keys, and show it with its expiry."""
    session = require_session(request)
    agent_id = agent_id_of(request)
    valid_for = EXPORT_VALIDITY.get(form_dict(await request.post()).get("valid_for", ""))
    if valid_for is None:
        session.flash("error", "Valid for: choose 1 hour, 24 hours or 7 days.")
        raise redirect(f"/agents/{agent_id}#signed-passport")
    backend = request.app[BACKEND]
    key = session.api_key
    reply = await backend.call(
        backend.registry.ExportPassport,
        registry_pb2.ExportPassportRequest(
            agent_id=agent_id,
            valid_for=duration_pb2.Duration(seconds=int(valid_for.total_seconds())),
        ),
        key,
    )
    published = await backend.call(
        backend.registry.ListPassportKeys, registry_pb2.ListPassportKeysRequest(), key
    )
    signed = SignedPassport(reply.document, reply.signature, reply.key_id, reply.public_key)
    try:
        checked = signed.verify({k.key_id: k.public_key for k in published.keys}, max_age=None)
    except PassportError as exc:
        session.flash("error", f"The exported passport did not verify: {exc.message}")
        raise redirect(f"/agents/{agent_id}#signed-passport") from None
    return await _passport_page(request, exported=checked, envelope=signed.to_json())
