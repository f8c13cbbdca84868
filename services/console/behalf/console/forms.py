"""Form validation: browser input to request messages, or messages that name the field.

The registry validates everything again; checking here first gives a person a clear message
next to the field they got wrong instead of a round trip and an RPC error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from google.protobuf import duration_pb2

from behalf import InvalidRequest, to_minor_units
from behalf.common.actions import is_action
from behalf.common.currencies import is_currency
from behalf.common.ids import is_id
from behalf.common.resource_names import (
    InvalidResourceName,
    normalize_grant_pattern,
    normalize_resource,
)
from behalf.v1 import common_pb2, registry_pb2, resources_pb2

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_COMMENT = 2000
MAX_URL = 2048
MAX_LIST = 100
EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?)$")
TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,99}$")
_LABEL_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-/]{0,62})=(.{0,63})$")
_SPLIT = re.compile(r"[\s,]+")
EXPIRY_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
LINK_LIFETIMES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
OUTCOMES = {
    name.removeprefix("OUTCOME_"): number
    for name, number in common_pb2.Outcome.items()
    if number != common_pb2.OUTCOME_UNSPECIFIED
}
REASON_CODES = {
    name.removeprefix("REASON_CODE_"): number
    for name, number in common_pb2.ReasonCode.items()
    if number != common_pb2.REASON_CODE_UNSPECIFIED
}
DELIVERY_STATES = ("PENDING", "RETRYING", "SUCCEEDED", "DEAD")
T = TypeVar("T")


@dataclass
class Checked(Generic[T]):
    """A parsed value (when `ok`) and the errors by field name."""

    value: T | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and self.value is not None


def _text(data: Mapping[str, str], name: str) -> str:
    value = data.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _plain(value: str, name: str, errors: dict[str, str], *, limit: int, required: bool) -> str:
    if required and not value:
        errors[name] = "is required"
    elif len(value) > limit:
        errors[name] = f"must be at most {limit} characters"
    elif any(ord(c) < 0x20 and c not in "\n\r\t" for c in value):
        errors[name] = "must not contain control characters"
    return value


def agent_form(data: Mapping[str, str]) -> Checked[registry_pb2.CreateAgentRequest]:
    """Name, kind (native or external), description and `key=value` label lines."""
    errors: dict[str, str] = {}
    name = _plain(_text(data, "name"), "name", errors, limit=MAX_NAME, required=True)
    if "\n" in name or "\r" in name or "\t" in name:
        errors["name"] = "must be one line"
    description = _plain(
        _text(data, "description"), "description", errors, limit=MAX_DESCRIPTION, required=False
    )
    kinds = {
        "native": resources_pb2.AGENT_KIND_NATIVE,
        "external": resources_pb2.AGENT_KIND_EXTERNAL,
    }
    kind = kinds.get(_text(data, "kind"))
    if kind is None:
        errors["kind"] = "choose native or external"
    labels: dict[str, str] = {}
    for line in _text(data, "labels").splitlines():
        if not line.strip():
            continue
        match = _LABEL_LINE.fullmatch(line.strip())
        if match is None:
            errors["labels"] = f"{line.strip()[:40]!r} is not key=value (key up to 63 characters)"
            break
        labels[match[1]] = match[2]
    if len(labels) > 32:
        errors["labels"] = "at most 32 labels"
    if errors or kind is None:
        return Checked(errors=errors)
    return Checked(
        registry_pb2.CreateAgentRequest(
            name=name, kind=kind, description=description, labels=labels
        )
    )


def _money(
    data: Mapping[str, str], amount_field: str, currency_field: str, errors: dict[str, str]
) -> common_pb2.Money | None:
    raw = _text(data, amount_field)
    if not raw:
        return None
    currency = _text(data, currency_field)
    currency = currency.upper() if currency.isascii() else currency  # as the SDK normalizes
    if not is_currency(currency):
        errors[currency_field] = "must be an ISO-4217 code such as USD"
        return None
    try:
        Decimal(raw)
    except InvalidOperation:
        errors[amount_field] = "must be a number such as 12.50"
        return None
    try:
        minor = to_minor_units(raw, currency)
    except InvalidRequest as exc:
        errors[amount_field] = str(exc).removeprefix("amount ")
        return None
    return common_pb2.Money(amount_minor=minor, currency=currency)


def grant_form(
    agent_id: str, data: Mapping[str, str]
) -> Checked[registry_pb2.GrantPermissionRequest]:
    """A grant from a template: resources, limits, lifetime and the approval override."""
    errors: dict[str, str] = {}
    request = registry_pb2.GrantPermissionRequest(agent_id=agent_id)
    template = _text(data, "template")
    if not TEMPLATE_NAME.fullmatch(template):
        errors["template"] = "choose a template"
    request.template_name = template
    resources = [r for r in _SPLIT.split(_text(data, "resources")) if r]
    if not resources:
        errors["resources"] = 'name at least one resource, or "*" for any resource'
    if len(resources) > MAX_LIST:
        errors["resources"] = f"at most {MAX_LIST} resources"
    for raw in resources:
        try:
            request.resources.append(normalize_grant_pattern(raw))
        except InvalidResourceName as exc:
            errors["resources"] = str(exc)
            break
    max_amount = _money(data, "max_amount", "currency", errors)
    if max_amount is not None:
        request.max_amount.CopyFrom(max_amount)
    budget = _money(data, "budget", "currency", errors)
    if budget is not None:
        request.budget.CopyFrom(budget)
    expires = _text(data, "expires_in")
    if expires:
        unit = EXPIRY_UNITS.get(_text(data, "expires_unit"), 0)
        if not re.fullmatch(r"[0-9]{1,7}", expires) or not unit or int(expires) <= 0:
            errors["expires_in"] = "must be a whole number of minutes, hours or days above 0"
        elif int(expires) * unit > 3660 * 86400:
            errors["expires_in"] = "must be at most 10 years"
        else:
            request.expires_in.CopyFrom(duration_pb2.Duration(seconds=int(expires) * unit))
    approval = _text(data, "requires_approval")
    if approval in {"yes", "no"}:
        request.requires_approval = approval == "yes"
    elif approval not in {"", "default"}:
        errors["requires_approval"] = "choose template default, yes or no"
    return Checked(errors=errors) if errors else Checked(request)


def resolve_form(data: Mapping[str, str]) -> Checked[tuple[bool, str]]:
    """Approve or deny, with an optional comment."""
    errors: dict[str, str] = {}
    decision = _text(data, "decision")
    if decision not in {"approve", "deny"}:
        errors["decision"] = "choose approve or deny"
    comment = _plain(_text(data, "comment"), "comment", errors, limit=MAX_COMMENT, required=False)
    return Checked(errors=errors) if errors else Checked((decision == "approve", comment))


def webhook_form(data: Mapping[str, str]) -> Checked[registry_pb2.CreateWebhookEndpointRequest]:
    """An http(s) URL, event types separated by spaces or commas, and a description."""
    errors: dict[str, str] = {}
    url = _text(data, "url")
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    if not url:
        errors["url"] = "is required"
    elif parts is None:
        errors["url"] = f"must be at most {MAX_URL} characters"
    elif parts.scheme not in {"http", "https"} or not parts.hostname:
        errors["url"] = "must be an http:// or https:// URL with a host"
    event_types = [t for t in _SPLIT.split(_text(data, "event_types")) if t]
    bad = [t for t in event_types if not EVENT_TYPE.fullmatch(t)]
    if bad:
        errors["event_types"] = f"{bad[0][:40]!r} is not an event type such as agent.* or *"
    elif len(event_types) > 50:
        errors["event_types"] = "at most 50 event types"
    description = _plain(
        _text(data, "description"), "description", errors, limit=MAX_DESCRIPTION, required=False
    )
    if errors:
        return Checked(errors=errors)
    return Checked(
        registry_pb2.CreateWebhookEndpointRequest(
            url=url, event_types=event_types, description=description
        )
    )


@dataclass(frozen=True)
class ProbeInput:
    """What a person on a test link asks about."""

    action: str
    resource: str
    amount: common_pb2.Money | None


def probe_form(data: Mapping[str, str]) -> Checked[ProbeInput]:
    """Action (lower_snake), resource (host or vendor name) and an optional amount."""
    errors: dict[str, str] = {}
    action = _text(data, "action")
    if not is_action(action):
        errors["action"] = "must be a lower_snake action such as purchase (1 to 64 characters)"
    resource = _text(data, "resource")
    if resource:
        try:
            resource = normalize_resource(resource)
        except InvalidResourceName as exc:
            errors["resource"] = str(exc)
    amount = _money(data, "amount", "currency", errors)
    if errors:
        return Checked(errors=errors)
    return Checked(ProbeInput(action, resource, amount))


def link_lifetime(data: Mapping[str, str]) -> Checked[int]:
    seconds = LINK_LIFETIMES.get(_text(data, "lifetime"))
    if seconds is None:
        return Checked(errors={"lifetime": "choose 1 hour, 24 hours or 7 days"})
    return Checked(seconds)


@dataclass(frozen=True)
class DecisionFilters:
    """The decisions page's filters, as typed (for the form) and as a request."""

    agent_id: str = ""
    outcome: str = ""
    reason_code: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def request(
        self, page_size: int = 50, page_token: str = ""
    ) -> registry_pb2.ListDecisionsRequest:
        request = registry_pb2.ListDecisionsRequest(page_size=page_size, page_token=page_token)
        request.agent_id = self.agent_id
        request.outcome = OUTCOMES.get(self.outcome, 0)  # type: ignore[assignment]
        request.reason_code = REASON_CODES.get(self.reason_code, 0)  # type: ignore[assignment]
        if self.since:
            request.start_time.FromDatetime(parse_utc(self.since))
        if self.until:
            request.end_time.FromDatetime(parse_utc(self.until))
        return request


def parse_utc(value: str) -> datetime:
    """A `datetime-local` value (YYYY-MM-DDTHH:MM[:SS]) read as UTC, between 1970 and 9998 (so
    an offset or the chart's hour before it stays a date); ValueError otherwise."""
    parsed = datetime.fromisoformat(value)
    try:
        utc = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None
    if not 1970 <= utc.year <= 9998:
        raise ValueError(f"{value!r} is out of range")
    return utc


def decision_filters(query: Mapping[str, str]) -> Checked[DecisionFilters]:
    errors: dict[str, str] = {}
    agent_id = _text(query, "agent_id")
    if agent_id and not is_id(agent_id, "agt"):
        errors["agent_id"] = "must be an agent id such as agt_…"
    outcome = _text(query, "outcome")
    if outcome and outcome not in OUTCOMES:
        errors["outcome"] = "unknown outcome"
    reason = _text(query, "reason_code")
    if reason and reason not in REASON_CODES:
        errors["reason_code"] = "unknown reason code"
    times: dict[str, datetime] = {}
    for name in ("since", "until"):
        raw = _text(query, name)
        if raw:
            try:
                times[name] = parse_utc(raw)
            except ValueError:
                errors[name] = "must be a date and time such as 2025-01-31T14:00"
    if "since" in times and "until" in times and times["until"] <= times["since"]:
        errors["until"] = "must be after since"
    if errors:
        return Checked(errors=errors)
    return Checked(
        DecisionFilters(agent_id, outcome, reason, _text(query, "since"), _text(query, "until"))
    )


def chart_window(filters: DecisionFilters, now: datetime) -> tuple[datetime, datetime]:
    """The chart's time span: the filter's, or the last hour."""
    end = parse_utc(filters.until) if filters.until else now
    start = parse_utc(filters.since) if filters.since else end - timedelta(hours=1)
    return start, end
