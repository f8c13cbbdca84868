"""Malformed Verify requests are refused with INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import pytest

from behalf.common.errors import InvalidArgument
from behalf.common.ids import new_id
from behalf.v1 import common_pb2, verifier_pb2
from behalf.verifier.validation import validate_verify

AGENT = new_id("agt")


def _request(**fields) -> verifier_pb2.VerifyRequest:
    base = {"agent_id": AGENT, "action": "purchase", "resource": "coachella.com"}
    base.update(fields)
    return verifier_pb2.VerifyRequest(**base)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"agent_id": ""}, "agent_id"),
        ({"agent_id": "agt_short"}, "agent_id"),
        ({"agent_id": "prm_" + "a" * 20}, "agent_id"),
        ({"agent_id": "agt_" + "A" * 20}, "agent_id"),
        ({"action": ""}, "action"),
        ({"action": "Purchase"}, "action"),
        ({"action": "buy now"}, "action"),
        ({"action": "a" * 65}, "action"),
        ({"resource": "exa mple.com"}, "resource"),
        ({"resource": "a" * 600}, "resource"),
        ({"resource": "*.example.com"}, "resource"),
        ({"amount": common_pb2.Money(amount_minor=100)}, "amount.currency"),
        ({"amount": common_pb2.Money(amount_minor=100, currency="usd")}, "amount.currency"),
        ({"amount": common_pb2.Money(amount_minor=100, currency="ABC")}, "amount.currency"),
        ({"amount": common_pb2.Money(amount_minor=-1, currency="USD")}, "amount.amount_minor"),
        ({"context": {f"k{i}": "v" for i in range(33)}}, "context"),
        ({"context": {"k": "v" * 257}}, "context[k]"),
        ({"context": {"k" * 65: "v"}}, "context"),
        ({"min_revision": -1}, "min_revision"),
        ({"approval_id": "nope"}, "approval_id"),
        ({"request_id": "has space"}, "request_id"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": "req-1\n"}, "request_id"),
        ({"action": "purchase\n"}, "action"),
        ({"agent_id": "agt_" + "a" * 20 + "\n"}, "agent_id"),
    ],
)
def test_each_malformed_field_is_named(fields: dict, field: str) -> None:
    """Every malformed field raises InvalidArgument with that field's name."""
    with pytest.raises(InvalidArgument) as caught:
        validate_verify(_request(**fields), "ten_x")
    assert caught.value.field == field


def test_valid_request_is_normalized_and_gets_a_request_id() -> None:
    """A valid request comes back normalized, in the caller's tenant, with a request id."""
    checked = validate_verify(
        _request(
            resource="HTTPS://Coachella.COM/tickets",
            amount=common_pb2.Money(amount_minor=79999, currency="USD"),
        ),
        "ten_abc",
    )
    assert checked.tenant_id == "ten_abc"
    assert checked.resource == "coachella.com"
    assert checked.amount is not None and checked.amount.amount_minor == 79999
    assert checked.request_id.startswith("req_")


def test_caller_request_id_is_kept() -> None:
    """A caller-supplied request id is used as is."""
    assert validate_verify(_request(request_id="order-42:1"), "t").request_id == "order-42:1"


@pytest.mark.parametrize(
    ("context", "field", "named"),
    [
        ({"note": "refund \u202eDSU 00.21"}, "context[note]", "RIGHT-TO-LEFT OVERRIDE"),
        ({"note": "line one\nline two"}, "context[note]", "U+000A"),
        ({"note": "\x1b[8mhidden"}, "context[note]", "U+001B"),
        ({"note": "zero\u200bwidth"}, "context[note]", "ZERO WIDTH SPACE"),
        ({"no\u200bte": "x"}, "context", "ZERO WIDTH SPACE"),
        ({"my key": "x"}, "context", "SPACE"),
    ],
)
def test_context_that_would_hide_or_reorder_text_is_refused(
    context: dict[str, str], field: str, named: str
) -> None:
    """People read the context in the console and the CLI: a character that hides, reorders or
    drives the display is refused, naming the field and the character."""
    with pytest.raises(InvalidArgument) as caught:
        validate_verify(_request(context=context), "ten_x")
    assert caught.value.field == field
    assert named in caught.value.problem


def test_context_may_be_any_visible_text() -> None:
    context = {"note": "Café order 12 for 東京, 3 \u00d7 10.00 €", "x-request-id": "r-1"}
    assert validate_verify(_request(context=context), "ten_x").request_id
