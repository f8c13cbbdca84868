"""Request validation: every check names the field at fault (InvalidArgument(field, problem)).

Functions return plain, validated values (or a `GrantSpec`), so what reaches the store has
been checked once, here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from behalf.common.actions import MAX_ACTION_LENGTH, is_action
from behalf.common.currencies import is_currency
from behalf.common.errors import InvalidArgument
from behalf.common.ids import is_id
from behalf.common.resource_names import (
    ANY_RESOURCE,
    InvalidResourceName,
    normalize_grant_pattern,
)
from behalf.common.timestamps import read_timestamp
from behalf.common.visible_text import describe, first_hidden
from behalf.registry.store.values import GrantSpec, MoneyValue
from behalf.registry.templates import Catalogue, ScopeTemplate
from behalf.v1 import common_pb2, registry_pb2, resources_pb2

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_LABELS = 32
MAX_LABEL_PART = 63
MAX_ACTIONS = 64
MAX_RESOURCES = 100
MAX_EVENT_TYPES = 50
MAX_IDEMPOTENCY_KEY = 200
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_EXPIRES_IN = timedelta(days=3660)
DEFAULT_WAIT = timedelta(seconds=2)
MAX_WAIT = timedelta(seconds=30)
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)

_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-/]*[A-Za-z0-9])?$")
_EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z_]*(\.[a-z][a-z_]*)*(\.\*)?)$")


def require_id(value: str, prefix: str, field: str) -> str:
    """A well-formed `<prefix>_…` id."""
    if not value:
        raise InvalidArgument(field, "is required")
    if not is_id(value, prefix):
        raise InvalidArgument(field, f"must be an id of the form {prefix}_ and 20 characters")
    return value


def optional_id(value: str, prefix: str, field: str) -> str | None:
    return require_id(value, prefix, field) if value else None


def name(value: str, field: str = "name") -> str:
    """1..200 characters, not only whitespace."""
    if not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_NAME:
        raise InvalidArgument(field, f"must be at most {MAX_NAME} characters")
    _refuse_hidden(value, field)
    return value


def _refuse_hidden(value: str, field: str, allowed: str = "") -> None:
    """Text a person reads (the console, the CLI, an approver) shows as itself: no control,
    format (bidi overrides, zero-width), surrogate, private-use or unassigned character but
    those `allowed` (NUL among them, which PostgreSQL text refuses)."""
    shown = value.translate({ord(ch): None for ch in allowed}) if allowed else value
    if (hidden := first_hidden(shown, spaces=True)) is not None:
        raise InvalidArgument(field, f"must not contain {describe(hidden)}")


def description(value: str, field: str = "description") -> str:
    """At most 2,000 characters; line breaks and tabs, but no other hidden character."""
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument(field, f"must be at most {MAX_DESCRIPTION} characters")
    _refuse_hidden(value, field, allowed="\t\n\r")
    return value


def labels(value: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise InvalidArgument(field, f"must have at most {MAX_LABELS} entries")
    for key, item in value.items():
        if not key or len(key) > MAX_LABEL_PART or not _LABEL_KEY.fullmatch(key):
            raise InvalidArgument(
                f"{field}[{key[:MAX_LABEL_PART]!r}]",
                f"keys must be 1..{MAX_LABEL_PART} letters, digits, '_', '-', '.' or '/'",
            )
        if len(item) > MAX_LABEL_PART:
            raise InvalidArgument(f"{field}[{key!r}]", f"must be at most {MAX_LABEL_PART} chars")
        _refuse_hidden(item, f"{field}[{key!r}]")
    return dict(value)


def agent_kind(value: int) -> int:
    if value not in (resources_pb2.AGENT_KIND_NATIVE, resources_pb2.AGENT_KIND_EXTERNAL):
        raise InvalidArgument("kind", "must be AGENT_KIND_NATIVE or AGENT_KIND_EXTERNAL")
    return value


MAX_RATE_LIMIT = 10_000.0
MIN_RATE_LIMIT = 1 / 60


def rate_limit(value: float, field: str = "rate_limit_per_second") -> float:
    """Deliveries per second: 0 (the dispatcher's default), or one a minute to 10,000. A rate
    nearer zero would hold its deliveries (and a lane worker) for days, cycling them through
    the shared retry topics meanwhile."""
    if not math.isfinite(value) or not (value == 0 or MIN_RATE_LIMIT <= value <= MAX_RATE_LIMIT):
        raise InvalidArgument(
            field,
            f"must be 0 (the default) or between {MIN_RATE_LIMIT:.4g} (one a minute)"
            f" and {MAX_RATE_LIMIT:g}",
        )
    return value


def optional_agent_mode(value: int) -> int | None:
    """A mode to set, or None for unspecified (leave it, or enforced on create)."""
    if value == resources_pb2.AGENT_MODE_UNSPECIFIED:
        return None
    if value not in (resources_pb2.AGENT_MODE_ENFORCED, resources_pb2.AGENT_MODE_TEST):
        raise InvalidArgument("mode", "must be AGENT_MODE_ENFORCED or AGENT_MODE_TEST")
    return value


def optional_agent_kind(value: int) -> int | None:
    return None if value == resources_pb2.AGENT_KIND_UNSPECIFIED else agent_kind(value)


def actions(values: Iterable[str], field: str) -> tuple[str, ...]:
    """lower_snake action names, 1..64 characters each, duplicates dropped (order kept)."""
    seen: dict[str, None] = {}
    for index, action in enumerate(values):
        if not action:
            raise InvalidArgument(f"{field}[{index}]", "must not be empty")
        if not is_action(action):
            raise InvalidArgument(
                f"{field}[{index}]", f"must be a lower_snake name of 1..{MAX_ACTION_LENGTH} chars"
            )
        seen[action] = None
    if len(seen) > MAX_ACTIONS:
        raise InvalidArgument(field, f"must have at most {MAX_ACTIONS} entries")
    return tuple(seen)


def resources(values: Iterable[str], field: str = "resources") -> tuple[str, ...]:
    """Normalized patterns, duplicates dropped: at least one, and `*` (any resource) only alone."""
    seen: dict[str, None] = {}
    for index, raw in enumerate(values):
        try:
            seen[normalize_grant_pattern(raw)] = None
        except InvalidResourceName as exc:
            raise InvalidArgument(f"{field}[{index}]", str(exc)) from None
    if not seen:
        raise InvalidArgument(field, 'must name at least one resource; use "*" for any resource')
    if ANY_RESOURCE in seen and len(seen) > 1:
        raise InvalidArgument(field, '"*" (any resource) must be the only resource')
    if len(seen) > MAX_RESOURCES:
        raise InvalidArgument(field, f"must have at most {MAX_RESOURCES} entries")
    return tuple(seen)


def currency(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required with an amount")
    if not is_currency(value):
        raise InvalidArgument(field, "must be an ISO-4217 code in upper case, such as USD")
    return value


def money(value: common_pb2.Money, field: str) -> MoneyValue:
    if value.amount_minor < 0:
        raise InvalidArgument(f"{field}.amount_minor", "must be >= 0")
    return MoneyValue(value.amount_minor, currency(value.currency, f"{field}.currency"))


def optional_money(message: Message, field: str) -> MoneyValue | None:
    """The Money in `message.<field>` if set."""
    if not message.HasField(field):
        return None
    value: common_pb2.Money = getattr(message, field)
    return money(value, field)


def page(page_size: int) -> int:
    """0 means the default; 1..500 otherwise."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    return page_size or DEFAULT_PAGE_SIZE


def idempotency_key(value: str) -> str:
    if len(value) > MAX_IDEMPOTENCY_KEY or any(ord(ch) < 0x21 for ch in value):
        raise InvalidArgument(
            "idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY} printable characters"
        )
    return value


def bounded_duration(
    value: duration_pb2.Duration, field: str, *, default: timedelta, maximum: timedelta
) -> timedelta:
    """0 means the default; negative is invalid; longer than `maximum` is capped."""
    if value.seconds < 0 or value.nanos < 0:
        raise InvalidArgument(field, "must not be negative")
    given = _duration(value, field)
    if given == timedelta(0):
        return default
    return min(given, maximum)


def propagation_wait(wait: registry_pb2.PropagationWait) -> timedelta | None:
    """How long to wait for verifiers, or None for no wait."""
    if not wait.enabled:
        return None
    return bounded_duration(wait.timeout, "wait.timeout", default=DEFAULT_WAIT, maximum=MAX_WAIT)


def event_types(values: Iterable[str], field: str = "event_types") -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        if len(value) > 100 or not _EVENT_TYPE.fullmatch(value):
            raise InvalidArgument(
                f"{field}[{index}]", "must be an event type like 'agent.disabled' or 'agent.*'"
            )
        seen[value] = None
    if len(seen) > MAX_EVENT_TYPES:
        raise InvalidArgument(field, f"must have at most {MAX_EVENT_TYPES} entries")
    return tuple(seen)


def approval_state(value: int) -> int | None:
    if value == resources_pb2.APPROVAL_STATE_UNSPECIFIED:
        return None
    if value not in resources_pb2.ApprovalState.values():
        raise InvalidArgument("state", "is not a known approval state")
    return value


def action_category(value: int) -> int:
    if value not in common_pb2.ActionCategory.values():
        raise InvalidArgument("category", "is not a known category")
    return value


def _duration(value: duration_pb2.Duration, field: str) -> timedelta:
    try:
        return value.ToTimedelta()
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is out of range") from None


_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}(\.[a-z][a-z0-9_]{0,63})+")


def template_name(value: str, field: str) -> str:
    """A scope template's name, such as `transactions.purchase` (known or not)."""
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_NAME or not _TEMPLATE_NAME.fullmatch(value):
        raise InvalidArgument(field, "must be a scope template name such as data_access.read")
    return value


def _template(request: registry_pb2.GrantPermissionRequest, catalogue: Catalogue) -> ScopeTemplate:
    if request.template_version < 0:
        raise InvalidArgument("template_version", "must be >= 0")
    template_name(request.template_name, "template_name")
    if not catalogue.has_name(request.template_name):
        raise InvalidArgument("template_name", "is not a known scope template")
    template = catalogue.get(request.template_name, request.template_version)
    if template is None:
        raise InvalidArgument("template_version", "is not a version of this template")
    return template


def grant(
    request: registry_pb2.GrantPermissionRequest, *, now: datetime, catalogue: Catalogue
) -> GrantSpec:
    """Validate a grant and apply its template; contradictions are refused, field named."""
    agent_id = require_id(request.agent_id, "agt", "agent_id")
    template = _template(request, catalogue) if request.template_name else None
    if template is None and request.template_version:
        raise InvalidArgument("template_version", "is only meaningful with template_name")
    allowed = actions(request.allowed_actions, "allowed_actions")
    blocked = actions(request.blocked_actions, "blocked_actions")
    if template is not None:
        known = (*template.allowed_actions, *template.blocked_actions)  # blocked: refused below
        beyond = [action for action in allowed if action not in known]
        if beyond:
            # A grant may narrow its template's actions, never add to them: the template's
            # category (what risk is scored from) must describe every action it allows.
            raise InvalidArgument(
                "allowed_actions",
                f"{beyond[0]!r} is not among template {template.name}'s actions",
            )
        allowed = allowed or template.allowed_actions
        blocked = tuple(dict.fromkeys((*template.blocked_actions, *blocked)))
    if not allowed:
        raise InvalidArgument("allowed_actions", "must name at least one action")
    for action in blocked:
        if action in allowed:
            raise InvalidArgument("blocked_actions", f"{action!r} is also in allowed_actions")
    patterns = resources(request.resources)
    max_amount = optional_money(request, "max_amount")
    budget = optional_money(request, "budget")
    if template is not None and not template.amounts_apply:
        for field, value in (("max_amount", max_amount), ("budget", budget)):
            if value is not None:
                raise InvalidArgument(field, f"template {template.name} has no amount limits")
    if max_amount and budget and max_amount.currency != budget.currency:
        raise InvalidArgument("budget.currency", "must equal max_amount.currency")
    not_before = read_timestamp(request, "not_before")
    expires_at = read_timestamp(request, "expires_at")
    if request.HasField("expires_in"):
        if expires_at is not None:
            raise InvalidArgument("expires_in", "must not be set together with expires_at")
        lifetime = _duration(request.expires_in, "expires_in")
        if lifetime <= timedelta(0) or lifetime > MAX_EXPIRES_IN:
            raise InvalidArgument("expires_in", "must be positive and at most ten years")
        expires_at = now + lifetime
    elif expires_at is None and template is not None and template.default_expires_in:
        expires_at = now + template.default_expires_in
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("expires_at", "is in the past")
    if expires_at is not None and not_before is not None and expires_at <= not_before:
        raise InvalidArgument("expires_at", "must be after not_before")
    if request.HasField("requires_approval"):
        requires_approval = request.requires_approval
    else:
        requires_approval = template.default_requires_approval if template else False
    return GrantSpec(
        agent_id=agent_id,
        allowed_actions=allowed,
        blocked_actions=blocked,
        resources=patterns,
        max_amount=max_amount,
        budget=budget,
        not_before=not_before,
        expires_at=expires_at,
        requires_approval=requires_approval,
        template_name=template.name if template else "",
        template_version=template.version if template else 0,
        category=template.category if template else common_pb2.ACTION_CATEGORY_UNSPECIFIED,
    )
