"""ListDecisions, CountDecisions and GetDecision: the audit trail's queries, always within one
tenant."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import asyncpg

from behalf.common import page_tokens
from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.ids import REQUEST_ID_RULE, is_id, is_request_id
from behalf.common.timestamps import read_timestamp
from behalf.registry.store import decisions
from behalf.registry.store.decisions import DecisionCursor, DecisionFilters
from behalf.v1 import common_pb2, events_pb2, registry_pb2

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_BUCKETS = 288
MAX_COUNT_WINDOW = timedelta(days=31)
_PAGE_KIND = "decisions:"  # + the fingerprint of the tenant and filters the token is for


class AuditQueries:
    """ListDecisions and GetDecision over the audit table, always within one tenant."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_decisions(
        self, tenant_id: str, request: registry_pb2.ListDecisionsRequest
    ) -> registry_pb2.ListDecisionsResponse:
        """One page of the tenant's decisions matching the filters, newest first."""
        page_size = _page_size(request.page_size)
        filters = _filters(request)
        fingerprint = _fingerprint(tenant_id, request)
        after = _decode_token(request.page_token, fingerprint) if request.page_token else None
        rows = await decisions.list_page(self._pool, tenant_id, filters, after, page_size + 1)
        response = registry_pb2.ListDecisionsResponse(
            decisions=[events_pb2.DecisionEvent.FromString(r["payload"]) for r in rows[:page_size]]
        )
        if len(rows) > page_size:
            last = rows[page_size - 1]
            response.next_page_token = page_tokens.encode(
                _PAGE_KIND + fingerprint, last["decided_at"], last["event_id"]
            )
        return response

    async def count_decisions(
        self, tenant_id: str, request: registry_pb2.CountDecisionsRequest
    ) -> registry_pb2.CountDecisionsResponse:
        """The tenant's decisions counted by outcome in equal buckets of the window."""
        start = read_timestamp(request, "start_time")
        end = read_timestamp(request, "end_time")
        if start is None:
            raise InvalidArgument("start_time", "is required")
        if end is None:
            raise InvalidArgument("end_time", "is required")
        if end <= start:
            raise InvalidArgument("end_time", "must be after start_time")
        if end - start > MAX_COUNT_WINDOW:
            raise InvalidArgument("end_time", "must be at most 31 days after start_time")
        if not 1 <= request.buckets <= MAX_BUCKETS:
            raise InvalidArgument("buckets", f"must be between 1 and {MAX_BUCKETS}")
        filters = _filters(
            registry_pb2.ListDecisionsRequest(
                agent_id=request.agent_id, reason_code=request.reason_code
            )
        )
        rows = await decisions.count_by_bucket(
            self._pool, tenant_id, filters, start, end, request.buckets
        )
        width = (end - start) / request.buckets
        response = registry_pb2.CountDecisionsResponse()
        for row in rows:
            if row["outcome"] not in common_pb2.Outcome.keys():
                continue  # a value this build does not know: not on its chart
            count = response.counts.add(
                outcome=common_pb2.Outcome.Value(row["outcome"]), count=row["count"]
            )
            count.bucket_start.FromDatetime(start + width * row["bucket"])
        return response

    async def get_decision(self, tenant_id: str, request_id: str) -> events_pb2.DecisionEvent:
        """The tenant's decision for a Verify request id (the newest, should there be two)."""
        if not request_id:
            raise InvalidArgument("request_id", "required")
        if not is_request_id(request_id):
            raise InvalidArgument("request_id", REQUEST_ID_RULE)
        payload = await decisions.payload_for_request(self._pool, tenant_id, request_id)
        return _found(payload)

    async def get_event(self, tenant_id: str, event_id: str) -> events_pb2.DecisionEvent:
        """The tenant's decision event `event_id`."""
        if not is_id(event_id, "evt"):
            raise InvalidArgument("event_id", "is not a decision event id")
        return _found(await decisions.payload_of_event(self._pool, tenant_id, event_id))

    async def get_asking(self, tenant_id: str, approval_id: str) -> events_pb2.DecisionEvent:
        """The tenant's decision that asked for approval `approval_id`: its REQUIRE_APPROVAL,
        never another decision that happens to share its request id."""
        if not is_id(approval_id, "apr"):
            raise InvalidArgument("approval_id", "is not an approval id")
        for payload in await decisions.payloads_asking_approval(self._pool, tenant_id, approval_id):
            event = events_pb2.DecisionEvent.FromString(payload)
            if event.decision.approval_id == approval_id:
                return event
        raise NotFound("decision not found")


def _found(payload: bytes | None) -> events_pb2.DecisionEvent:
    if payload is None:
        raise NotFound("decision not found")
    return events_pb2.DecisionEvent.FromString(payload)


def _filters(request: registry_pb2.ListDecisionsRequest) -> DecisionFilters:
    """The request's filters, validated, in the table's spelling."""
    agent_id = outcome = reason_code = request_id = None
    if request.agent_id:
        if not is_id(request.agent_id, "agt"):
            raise InvalidArgument("agent_id", "not a valid agent id")
        agent_id = request.agent_id
    if request.outcome:
        if request.outcome not in common_pb2.Outcome.values():
            raise InvalidArgument("outcome", "unknown outcome")
        outcome = common_pb2.Outcome.Name(request.outcome)
    if request.reason_code:
        if request.reason_code not in common_pb2.ReasonCode.values():
            raise InvalidArgument("reason_code", "unknown reason code")
        reason_code = common_pb2.ReasonCode.Name(request.reason_code)
    start = read_timestamp(request, "start_time")
    end = read_timestamp(request, "end_time")
    if start is not None and end is not None and end <= start:
        raise InvalidArgument("end_time", "must be after start_time")
    if request.request_id:
        if not is_request_id(request.request_id):
            raise InvalidArgument("request_id", REQUEST_ID_RULE)
        request_id = request.request_id
    return DecisionFilters(
        agent_id=agent_id,
        outcome=outcome,
        reason_code=reason_code,
        start=start,
        end=end,
        request_id=request_id,
    )


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0 means 50)")
    return value


def _fingerprint(tenant_id: str, request: registry_pb2.ListDecisionsRequest) -> str:
    """Binds a page token to the tenant and filters it was issued for."""
    filters = registry_pb2.ListDecisionsRequest()
    filters.CopyFrom(request)
    filters.ClearField("page_token")
    filters.ClearField("page_size")
    digest = hashlib.sha256(
        tenant_id.encode() + b"\0" + filters.SerializeToString(deterministic=True)
    )
    return digest.hexdigest()[:16]


def _decode_token(token: str, fingerprint: str) -> DecisionCursor:
    """The position in a token issued for this tenant and these filters."""
    try:
        position = page_tokens.decode(_PAGE_KIND + fingerprint, token)
    except page_tokens.BadPageToken as exc:
        raise InvalidArgument("page_token", str(exc)) from None
    if position is None:
        raise InvalidArgument("page_token", "not a valid page token")
    return DecisionCursor(position.at, position.row_id)
