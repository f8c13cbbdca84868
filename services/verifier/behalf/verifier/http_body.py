"""The HTTP/JSON Verify body: camelCase JSON in, a VerifyRequest out; a Decision out as JSON.

Pure functions, no I/O: the same VerifyRequest then goes through the same pipeline as gRPC
(`api.Verifier.verify`), so HTTP adds a spelling, never a rule. Amounts in major units
(`"amount": 799.99` or `"799.99"`) are converted exactly with the currency's exponent, never
through a float, and with no more decimals than the currency has as written (`"1.000"` JPY is
an error, not 1 yen: other readers take it for 1,000); a field the schema does not know is
refused rather than ignored, so a typo (`"ammount"`) cannot turn a limited request into an
unlimited one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from behalf.common.currencies import is_currency, major_to_minor, minor_unit_exponent, plain_decimal
from behalf.common.errors import InvalidArgument
from behalf.v1 import common_pb2, resources_pb2, verifier_pb2
from behalf.verifier.validation import non_negative_int64

MAX_BODY_BYTES = 64 * 1024
# More digits than any int64 (or any amount) has: kept as text and refused by the field's check.
_MAX_INTEGER_DIGITS = 32

# The JSON name of each VerifyRequest field; errors name the JSON field the client sent.
_STRING_FIELDS = {
    "agentId": "agent_id",
    "action": "action",
    "resource": "resource",
    "approvalId": "approval_id",
    "requestId": "request_id",
}
_KNOWN = {*_STRING_FIELDS, "vendor", "amount", "amountMinor", "currency", "minRevision"}
_KNOWN |= {"context", "testMode"}
# validate_verify names proto fields; the client wrote these.
JSON_FIELD = {
    **{proto: name for name, proto in _STRING_FIELDS.items()},
    "amount.currency": "currency",
    "amount.amount_minor": "amountMinor",
    "min_revision": "minRevision",
    "test_mode": "testMode",
}


def json_field(field: str) -> str:
    """The JSON spelling of a VerifyRequest field path (`context[k]` stays as it is)."""
    return JSON_FIELD.get(field, field)


def parse_verify_body(raw: bytes) -> verifier_pb2.VerifyRequest:
    """A VerifyRequest from a JSON body, or InvalidArgument naming the JSON field at fault.

    The body must be UTF-8 (RFC 8259): `json.loads` would also read UTF-16 and UTF-32, which a
    gateway or audit proxy in front, reading UTF-8, would see as no JSON at all.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("body", "is not UTF-8") from None
    try:
        body = json.loads(
            text,
            parse_float=_json_decimal,
            parse_int=_json_integer,
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_repeated_names,
        )
    except _RepeatedName as exc:
        raise InvalidArgument(exc.name, "is given more than once") from None
    except (ValueError, RecursionError):
        raise InvalidArgument("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgument("body", "must be a JSON object")
    for name in body:
        if name not in _KNOWN:
            raise InvalidArgument(name, "is not a field of the Verify request")
    request = verifier_pb2.VerifyRequest()
    for name, proto in _STRING_FIELDS.items():
        if name in body:
            setattr(request, proto, _string(body, name))
    if "vendor" in body:
        vendor = _string(body, "vendor")
        if request.resource and request.resource != vendor:
            raise InvalidArgument("vendor", "is an alias of resource; send one of them")
        request.resource = vendor
    amount = _amount(body)
    if amount is not None:
        request.amount.CopyFrom(amount)
    if "minRevision" in body:
        request.min_revision = _integer(body, "minRevision")
    if "context" in body:
        request.context.update(_context(body["context"]))
    if "testMode" in body:
        if not isinstance(body["testMode"], bool):
            raise InvalidArgument("testMode", "must be true or false")
        request.test_mode = body["testMode"]
    return request


def decision_body(decision: common_pb2.Decision) -> dict[str, Any]:
    """The JSON answer for a decision (risk in lower case, as the product brief shows it)."""
    outcome = common_pb2.Outcome.Name(decision.outcome).removeprefix("OUTCOME_")
    return {
        "requestId": decision.request_id,
        # A test decision authorizes nothing, whatever its outcome says.
        "allowed": decision.outcome == common_pb2.OUTCOME_ALLOW and not decision.test_mode,
        "outcome": outcome,
        "reasonCode": common_pb2.ReasonCode.Name(decision.reason_code).removeprefix("REASON_CODE_"),
        "reason": decision.reason,
        "risk": common_pb2.Risk.Name(decision.risk).removeprefix("RISK_").lower(),
        "permissionId": decision.permission_id or None,
        "policyRevision": decision.policy_revision,
        "approvalId": decision.approval_id or None,
        "testMode": decision.test_mode,
    }


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


class _RepeatedName(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_repeated_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One value per name: parsers disagree on which of two wins (Python's json takes the last,
    others the first), so a body that says two things is refused rather than read one way."""
    body: dict[str, Any] = {}
    for name, value in pairs:
        if name in body:
            raise _RepeatedName(name)
        body[name] = value
    return body


@dataclass(frozen=True)
class _OutOfRange:
    """A JSON number no field takes (an exponent beyond Decimal's range, an integer of more
    than 32 digits), kept apart from every type a field takes, so the field it was sent in can
    be named."""

    text: str


def _json_decimal(text: str) -> Decimal | _OutOfRange:
    try:
        return Decimal(text)
    except InvalidOperation:
        return _OutOfRange(text)


def _json_integer(text: str) -> int | _OutOfRange:
    return int(text) if len(text) <= _MAX_INTEGER_DIGITS else _OutOfRange(text)


def _string(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise InvalidArgument(name, "must be a string")
    return _unicode(value, name)


def _unicode(value: str, field: str) -> str:
    """JSON's \\u escapes can spell a lone surrogate, which no protobuf string holds."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidArgument(field, "is not valid Unicode (a lone surrogate)") from None
    return value


def _integer(body: Mapping[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, _OutOfRange):
        raise InvalidArgument(name, "is out of range")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, "must be an integer")
    return non_negative_int64(value, name)


def _amount(body: Mapping[str, Any]) -> common_pb2.Money | None:
    if "amount" in body and "amountMinor" in body:
        raise InvalidArgument("amountMinor", "send amount (major units) or amountMinor, not both")
    if "amount" not in body and "amountMinor" not in body:
        if "currency" in body:
            raise InvalidArgument("currency", "is only meaningful with amount or amountMinor")
        return None
    if "currency" not in body:
        raise InvalidArgument("currency", "is required with an amount")
    currency = _string(body, "currency")
    if not is_currency(currency):
        raise InvalidArgument("currency", "is not an ISO-4217 code such as USD")
    if "amountMinor" in body:
        return common_pb2.Money(amount_minor=_integer(body, "amountMinor"), currency=currency)
    return common_pb2.Money(amount_minor=_minor_units(body["amount"], currency), currency=currency)


def _minor_units(value: object, currency: str) -> int:
    """Major units (a JSON number, read as a Decimal, or a plain decimal string) to minor units,
    with no more decimals than the currency has, as written."""
    if isinstance(value, _OutOfRange):
        raise InvalidArgument("amount", "is out of range")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidArgument("amount", "must be a number or a decimal string")
    try:
        if isinstance(value, str):
            value = plain_decimal(value, currency)
        elif isinstance(value, Decimal) and _decimals(value) > minor_unit_exponent(currency):
            raise InvalidArgument("amount", f"has more decimals than {currency} has")
        return major_to_minor(value, currency)
    except ValueError as exc:  # the SDK's InvalidRequest is one
        raise InvalidArgument("amount", str(exc)) from None


def _decimals(number: Decimal) -> int:
    """How many decimals a JSON number was written with (`799.990`: 3; `7.9999e2`: 2)."""
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _context(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidArgument("context", "must be an object of strings")
    for key, item in value.items():
        _unicode(key, "context")
        if not isinstance(item, str):
            raise InvalidArgument(f"context[{key}]", "must be a string")
        _unicode(item, f"context[{key}]")
    return value


def approval_body(approval: resources_pb2.Approval) -> dict[str, Any]:
    """An approval as the HTTP API returns it (state in upper case, times in RFC 3339)."""
    body: dict[str, Any] = {
        "approvalId": approval.approval_id,
        "state": resources_pb2.ApprovalState.Name(approval.state).removeprefix("APPROVAL_STATE_"),
        "agentId": approval.agent_id,
        "action": approval.action,
        "resource": approval.resource,
        "requestId": approval.request_id,
        "permissionId": approval.permission_id or None,
        "amountMinor": None,
        "currency": None,
    }
    if approval.HasField("amount"):
        body["amountMinor"] = approval.amount.amount_minor
        body["currency"] = approval.amount.currency
    for name, field in (
        ("createTime", "create_time"),
        ("expireTime", "expire_time"),
        ("resolveTime", "resolve_time"),
        ("consumeTime", "consume_time"),
    ):
        stamp = getattr(approval, field)
        body[name] = stamp.ToJsonString() if approval.HasField(field) else None
    return body
