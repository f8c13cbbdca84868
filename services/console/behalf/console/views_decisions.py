"""Decisions: a filterable, live-updating audit table, a chart by outcome, one decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from behalf.common.ids import is_id, is_request_id
from behalf.console import forms
from behalf.console.chart import build_chart, counted_buckets
from behalf.console.present import outcome
from behalf.console.web import BACKEND, JINJA, render, require_session
from behalf.v1 import registry_pb2

routes = web.RouteTableDef()
TABLE_PAGE = 50
CHART_BUCKETS = 12


async def _data(request: web.Request, filters: forms.DecisionFilters) -> dict[str, Any]:
    """The template context of the table and the chart."""
    session = require_session(request)
    backend = request.app[BACKEND]
    page_token = request.query.get("page_token", "")[:1000]
    table = await backend.call(
        backend.registry.ListDecisions, filters.request(TABLE_PAGE, page_token), session.api_key
    )
    now = datetime.now(UTC)
    start, end = forms.chart_window(filters, now)
    count_request = registry_pb2.CountDecisionsRequest(
        buckets=CHART_BUCKETS,
        agent_id=filters.agent_id,
        reason_code=forms.REASON_CODES.get(filters.reason_code, 0),  # type: ignore[arg-type]
    )
    count_request.start_time.FromDatetime(start)
    count_request.end_time.FromDatetime(end)
    counted = await backend.call(backend.registry.CountDecisions, count_request, session.api_key)
    rows = [
        (c.bucket_start.ToDatetime(tzinfo=UTC), outcome(c.outcome), c.count)
        for c in counted.counts
        if not filters.outcome or outcome(c.outcome) == filters.outcome
    ]
    return {
        "decisions": list(table.decisions),
        "next_page_token": table.next_page_token,
        "page_token": page_token,
        "chart": build_chart(counted_buckets(rows, start, end, CHART_BUCKETS), start, end),
        "chart_start": start,
        "chart_end": end,
        "updated": now,
    }


@routes.get("/decisions")
async def decisions(request: web.Request) -> web.StreamResponse:
    require_session(request)
    checked = forms.decision_filters(request.query)
    filters = checked.value if checked.ok else forms.DecisionFilters()
    assert filters is not None
    return render(
        request,
        "decisions.html",
        filters=filters,
        errors=checked.errors,
        form=dict(request.query),
        outcomes=list(forms.OUTCOMES),
        reason_codes=list(forms.REASON_CODES),
        **await _data(request, filters),
    )


@routes.get("/decisions/live")
async def live(request: web.Request) -> web.StreamResponse:
    """The table body and chart, re-rendered for the page's polling script."""
    require_session(request)
    checked = forms.decision_filters(request.query)
    if not checked.ok:
        return web.json_response({"error": "invalid filters"}, status=400)
    assert checked.value is not None
    data = await _data(request, checked.value)
    env = request.app[JINJA]
    return web.json_response(
        {
            "rows": env.get_template("_decision_rows.html").render(**data),
            "chart": env.get_template("_chart.html").render(**data),
            "updated": data["updated"].strftime("%H:%M:%S UTC"),
        }
    )


@routes.get("/decisions/{request_id}")
async def decision(request: web.Request) -> web.StreamResponse:
    """The newest decision under a request id (an agent chooses those: pages link to one
    decision by its event id or its approval instead)."""
    request_id = request.match_info["request_id"]
    if not is_request_id(request_id):
        raise web.HTTPNotFound()
    return await _decision_page(request, registry_pb2.GetDecisionRequest(request_id=request_id))


@routes.get("/decisions/event/{event_id}")
async def decision_event(request: web.Request) -> web.StreamResponse:
    event_id = request.match_info["event_id"]
    if not is_id(event_id, "evt"):
        raise web.HTTPNotFound()
    return await _decision_page(request, registry_pb2.GetDecisionRequest(event_id=event_id))


@routes.get("/approvals/{approval_id}/decision")
async def approval_decision(request: web.Request) -> web.StreamResponse:
    """The decision that asked for the approval: what the human is approving, never another
    decision the agent made under the same request id."""
    approval_id = request.match_info["approval_id"]
    if not is_id(approval_id, "apr"):
        raise web.HTTPNotFound()
    return await _decision_page(request, registry_pb2.GetDecisionRequest(approval_id=approval_id))


async def _decision_page(
    request: web.Request, asked: registry_pb2.GetDecisionRequest
) -> web.StreamResponse:
    session = require_session(request)
    backend = request.app[BACKEND]
    found = await backend.call(backend.registry.GetDecision, asked, session.api_key)
    return render(request, "decision.html", event=found.decision)
