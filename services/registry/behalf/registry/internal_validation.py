"""Validating what verifiers and dispatchers send the internal API (InvalidArgument(field, …))."""

from __future__ import annotations

from behalf.common.errors import InvalidArgument
from behalf.common.ids import REQUEST_ID_RULE, is_request_id
from behalf.common.resource_names import InvalidResourceName, normalize_resource
from behalf.common.timestamps import read_timestamp
from behalf.registry import validation as v
from behalf.registry.commands.budget_claims import CLAIM_MAX_CHARS
from behalf.registry.store.request_ids import RequestFacts
from behalf.registry.store.values import MoneyValue
from behalf.registry.store.webhook_health import HealthReport
from behalf.v1 import internal_pb2 as pb
from behalf.v1 import resources_pb2


def request_id(value: str, field: str = "request_id") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not is_request_id(value):
        raise InvalidArgument(field, REQUEST_ID_RULE)
    return value


def budget_claim(value: str) -> str:
    """The claim a ReserveBudget reply carried; its content is only ever hashed."""
    if not value:
        raise InvalidArgument("claim", "is required: the claim ReserveBudget answered with")
    if len(value) > CLAIM_MAX_CHARS:
        raise InvalidArgument("claim", f"must be at most {CLAIM_MAX_CHARS} characters")
    return value


def action(value: str) -> str:
    actions = v.actions([value], "action")
    if not actions:
        raise InvalidArgument("action", "is required")
    return actions[0]


def resource(value: str) -> str:
    """The verifier sends normalized resources, or "" for an action on no resource (which only
    a "*" grant covers); anything else is refused, not normalized here."""
    if not value:
        return value
    try:
        normalized = normalize_resource(value)
    except InvalidResourceName as exc:
        raise InvalidArgument("resource", str(exc)) from None
    if normalized != value:
        raise InvalidArgument("resource", "must be a normalized resource")
    return value


def required_money(request: pb.ReserveBudgetRequest | pb.CheckBudgetRequest) -> MoneyValue:
    if not request.HasField("amount"):
        raise InvalidArgument("amount", "is required")
    return v.money(request.amount, "amount")


def facts(
    tenant_id: str,
    request: pb.ReserveBudgetRequest | pb.CreateApprovalRequest | pb.ConsumeApprovalRequest,
    amount: MoneyValue | None,
) -> RequestFacts:
    """What the Verify behind a stateful step asked for, validated."""
    return RequestFacts(
        tenant_id=tenant_id,
        agent_id=v.require_id(request.agent_id, "agt", "agent_id"),
        action=action(request.action),
        resource=resource(request.resource),
        amount_minor=amount.amount_minor if amount else None,
        amount_currency=amount.currency if amount else None,
        permission_id=v.require_id(request.permission_id, "prm", "permission_id"),
        request_id=request_id(request.request_id),
    )


MAX_HEALTH_REPORTS = 10_000
MAX_LAST_ERROR = 500
MAX_WINDOW_SECONDS = 86_400
_BREAKER_STATES = frozenset(
    {
        resources_pb2.BREAKER_STATE_CLOSED,
        resources_pb2.BREAKER_STATE_HALF_OPEN,
        resources_pb2.BREAKER_STATE_OPEN,
    }
)


def health_reports(request: pb.ReportWebhookHealthRequest) -> tuple[str, list[HealthReport]]:
    """The reporting dispatcher's id and its reports, each endpoint at most once."""
    dispatcher_id = request_id(request.dispatcher_id, "dispatcher_id")
    if len(request.endpoints) > MAX_HEALTH_REPORTS:
        raise InvalidArgument("endpoints", f"must hold at most {MAX_HEALTH_REPORTS} reports")
    reports: list[HealthReport] = []
    seen: set[str] = set()
    for i, report in enumerate(request.endpoints):
        reports.append(_health_report(report, f"endpoints[{i}]"))
        if reports[-1].endpoint_id in seen:
            raise InvalidArgument(f"endpoints[{i}].endpoint_id", "is reported twice")
        seen.add(reports[-1].endpoint_id)
    return dispatcher_id, reports


def _health_report(report: pb.EndpointHealthReport, field: str) -> HealthReport:
    health = report.health
    if not 0 <= health.attempts:
        raise InvalidArgument(f"{field}.health.attempts", "must not be negative")
    if not 0 <= health.successes <= health.attempts:
        raise InvalidArgument(f"{field}.health.successes", "must be between 0 and attempts")
    if len(health.last_error) > MAX_LAST_ERROR:
        raise InvalidArgument(
            f"{field}.health.last_error", f"must be at most {MAX_LAST_ERROR} characters"
        )
    if not 0 <= health.last_error_status_code <= 999:
        raise InvalidArgument(f"{field}.health.last_error_status_code", "must be 0..999")
    if health.breaker_state not in _BREAKER_STATES:
        raise InvalidArgument(f"{field}.health.breaker_state", "must be a breaker state")
    if not 0 < health.window_seconds <= MAX_WINDOW_SECONDS:
        raise InvalidArgument(f"{field}.health.window_seconds", f"must be 1..{MAX_WINDOW_SECONDS}")
    return HealthReport(
        tenant_id=v.require_id(report.tenant_id, "ten", f"{field}.tenant_id"),
        endpoint_id=v.require_id(report.endpoint_id, "whe", f"{field}.endpoint_id"),
        attempts=health.attempts,
        successes=health.successes,
        last_error=health.last_error,
        last_error_status_code=health.last_error_status_code,
        last_error_at=read_timestamp(health, "last_error_time"),
        last_success_at=read_timestamp(health, "last_success_time"),
        breaker_state=health.breaker_state,
        window_seconds=health.window_seconds,
    )
