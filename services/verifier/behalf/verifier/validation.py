"""Turning a VerifyRequest into a VerifyInput, or an InvalidArgument naming the field."""

from __future__ import annotations

from behalf.common.actions import is_action
from behalf.common.currencies import is_currency
from behalf.common.errors import InvalidArgument
from behalf.common.ids import REQUEST_ID_RULE, is_id, is_request_id, new_id
from behalf.common.resource_names import InvalidResourceName, normalize_resource
from behalf.common.visible_text import describe, first_hidden
from behalf.v1 import verifier_pb2
from behalf.verifier.engine import VerifyInput
from behalf.verifier.snapshot import Money

MAX_CONTEXT_ENTRIES = 32
MAX_CONTEXT_KEY = 64
MAX_CONTEXT_VALUE = 256
MAX_RESOURCE = 253
INT64_MAX = 2**63 - 1  # the range of the int64 fields amount_minor and min_revision


def non_negative_int64(value: int, field: str) -> int:
    """`value` if a non-negative int64 field can hold it, else InvalidArgument naming `field`."""
    if not 0 <= value <= INT64_MAX:
        raise InvalidArgument(field, "must be an integer between 0 and 2^63-1")
    return value


def validate_verify(request: verifier_pb2.VerifyRequest, tenant_id: str) -> VerifyInput:
    """Check every field; the first problem found is raised with its field's name."""
    if not request.agent_id:
        raise InvalidArgument("agent_id", "is required")
    if not is_id(request.agent_id, "agt"):
        raise InvalidArgument("agent_id", "is not a well-formed agent id (agt_…)")
    if not request.action:
        raise InvalidArgument("action", "is required")
    if not is_action(request.action):
        raise InvalidArgument("action", "must be lower_snake_case, 1 to 64 characters")
    resource = _resource(request.resource)
    amount = _amount(request) if request.HasField("amount") else None
    _check_context(request.context)
    if request.min_revision < 0:
        raise InvalidArgument("min_revision", "must not be negative")
    if request.approval_id and not is_id(request.approval_id, "apr"):
        raise InvalidArgument("approval_id", "is not a well-formed approval id (apr_…)")
    if request.request_id and not is_request_id(request.request_id):
        raise InvalidArgument("request_id", REQUEST_ID_RULE)
    return VerifyInput(
        tenant_id=tenant_id,
        agent_id=request.agent_id,
        action=request.action,
        resource=resource,
        amount=amount,
        min_revision=request.min_revision,
        approval_id=request.approval_id,
        request_id=request.request_id or new_id("req"),
    )


def _resource(raw: str) -> str:
    if not raw:
        return ""
    if len(raw) > MAX_RESOURCE * 2:
        raise InvalidArgument("resource", f"is longer than {MAX_RESOURCE} characters")
    try:
        return normalize_resource(raw)
    except InvalidResourceName as exc:
        raise InvalidArgument("resource", str(exc)) from None


def _amount(request: verifier_pb2.VerifyRequest) -> Money:
    amount = request.amount
    if not amount.currency:
        raise InvalidArgument("amount.currency", "is required with an amount")
    if not is_currency(amount.currency):
        raise InvalidArgument("amount.currency", "is not an ISO-4217 code such as USD")
    if amount.amount_minor < 0:
        raise InvalidArgument("amount.amount_minor", "must not be negative")
    return Money(amount_minor=amount.amount_minor, currency=amount.currency)


def _check_context(context: object) -> None:
    items = dict(context)  # type: ignore[call-overload]
    if len(items) > MAX_CONTEXT_ENTRIES:
        raise InvalidArgument("context", f"has more than {MAX_CONTEXT_ENTRIES} entries")
    for key, value in items.items():
        if not key or len(key) > MAX_CONTEXT_KEY:
            raise InvalidArgument("context", f"keys must be 1 to {MAX_CONTEXT_KEY} characters")
        if (hidden := first_hidden(key, spaces=False)) is not None:
            raise InvalidArgument("context", f"a key contains {describe(hidden)}")
        if len(value) > MAX_CONTEXT_VALUE:
            raise InvalidArgument(f"context[{key}]", f"is longer than {MAX_CONTEXT_VALUE}")
        # People read context in the console and the CLI: nothing that hides or reorders text.
        if (hidden := first_hidden(value, spaces=True)) is not None:
            raise InvalidArgument(f"context[{key}]", f"contains {describe(hidden)}")
