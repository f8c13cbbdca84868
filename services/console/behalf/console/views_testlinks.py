"""Manual test links: admins issue and revoke them; anyone holding one may run test Verifies."""

from __future__ import annotations

import time
import uuid
from collections import deque

from aiohttp import web

from behalf.common.ids import is_id
from behalf.console import forms
from behalf.console.backend import BackendError
from behalf.console.present import TEST_CONTEXT_KEY, TEST_REQUEST_PREFIX
from behalf.console.testlinks import LinkError, ManualTestLink
from behalf.console.testlinks_admin import issue_link, links_of, revoke_link
from behalf.console.views_agents import agent_id_of
from behalf.console.web import (
    BACKEND,
    LINKS,
    SETTINGS,
    error_response,
    form_dict,
    redirect,
    render,
    require_admin,
)
from behalf.v1 import registry_pb2, resources_pb2, verifier_pb2

routes = web.RouteTableDef()
PROBES_PER_MINUTE = 30
_recent: dict[str, deque[float]] = {}


@routes.post("/agents/{agent_id}/test-links")
async def create_link(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    agent_id = agent_id_of(request)
    lifetime = forms.link_lifetime(form_dict(await request.post()))
    backend = request.app[BACKEND]
    agent = (
        await backend.call(
            backend.registry.GetAgent,
            registry_pb2.GetAgentRequest(agent_id=agent_id),
            session.api_key,
        )
    ).agent
    if agent.kind != resources_pb2.AGENT_KIND_EXTERNAL:
        return error_response(request, 400, "Test links are for external agents only.")
    if not lifetime.ok:
        session.flash("error", f"Lifetime {lifetime.errors['lifetime']}.")
        raise redirect(f"/agents/{agent_id}")
    assert lifetime.value is not None
    token = await issue_link(backend, request.app[LINKS], session.api_key, agent, lifetime.value)
    session.once[f"link:{agent_id}"] = f"{public_origin(request)}/t/{token}"
    session.flash("ok", "Test link created. Copy it now: it is shown only once.")
    raise redirect(f"/agents/{agent_id}#test-links")


def public_origin(request: web.Request) -> str:
    """Where people reach this console. With Secure cookies it is served over HTTPS by a
    proxy in front (the console itself speaks plain HTTP), so a link must say https: a test
    link is a bearer token, and must not leave in clear text when it is opened."""
    origin = request.url.origin()
    if request.app[SETTINGS].cookie_secure:
        origin = origin.with_scheme("https")
    return str(origin)


@routes.post("/agents/{agent_id}/test-links/{key_id}/revoke")
async def revoke_link_submit(request: web.Request) -> web.StreamResponse:
    session = require_admin(request)
    agent_id = agent_id_of(request)
    key_id = request.match_info["key_id"]
    links = await links_of(request.app[BACKEND], session.api_key, agent_id)
    link = next((row for row in links if row.key_id == key_id and is_id(key_id, "key")), None)
    if link is None:
        raise web.HTTPNotFound()
    if not link.revoked:
        await revoke_link(request.app[BACKEND], session.api_key, key_id)
    session.flash("ok", f"Test link {link.link_id} revoked.")
    raise redirect(f"/agents/{agent_id}#test-links")


def _link(request: web.Request) -> ManualTestLink:
    try:
        return request.app[LINKS].decode(request.match_info["token"], time.time())
    except LinkError as exc:
        raise web.HTTPGone(
            text=error_response(request, 410, str(exc)).text, content_type="text/html"
        ) from None


def _allowed(link_id: str) -> bool:
    """At most PROBES_PER_MINUTE test Verifies per link per minute (per console process)."""
    now = time.monotonic()
    window = _recent.setdefault(link_id, deque())
    while window and now - window[0] > 60:
        window.popleft()
    if len(window) >= PROBES_PER_MINUTE:
        return False
    window.append(now)
    return True


@routes.get("/t/{token}")
async def probe_page(request: web.Request) -> web.StreamResponse:
    link = _link(request)
    return render(request, "probe.html", link=link, token=request.match_info["token"])


@routes.post("/t/{token}")
async def probe(request: web.Request) -> web.StreamResponse:
    link = _link(request)
    token = request.match_info["token"]
    data = form_dict(await request.post())
    checked = forms.probe_form(data)
    if not checked.ok:
        return render(
            request,
            "probe.html",
            status=400,
            link=link,
            token=token,
            errors=checked.errors,
            form=data,
        )
    if not _allowed(link.link_id):
        return error_response(request, 429, "Too many test requests; wait a minute.")
    assert checked.value is not None
    verify = verifier_pb2.VerifyRequest(
        agent_id=link.agent_id,
        action=checked.value.action,
        resource=checked.value.resource,
        request_id=f"{TEST_REQUEST_PREFIX}{uuid.uuid4().hex}",
        context={TEST_CONTEXT_KEY: "true", "behalf.test_link": link.link_id},
    )
    if checked.value.amount is not None:
        verify.amount.CopyFrom(checked.value.amount)
    backend = request.app[BACKEND]
    try:
        decision = await backend.check(verify, link.api_key)
    except BackendError as exc:
        if exc.unauthenticated:
            return error_response(request, 410, "This test link has been revoked.")
        if exc.code.name != "INVALID_ARGUMENT":
            raise
        return render(
            request,
            "probe.html",
            status=400,
            link=link,
            token=token,
            errors={"form": str(exc)},
            form=data,
        )
    return render(request, "probe.html", link=link, token=token, decision=decision, form=data)
