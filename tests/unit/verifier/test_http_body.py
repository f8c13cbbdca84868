"""The HTTP/JSON Verify body: exact amounts, the vendor alias, and every bad field named."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.currencies import minor_unit_exponent
from behalf.common.errors import InvalidArgument
from behalf.v1 import common_pb2
from behalf.verifier.http_body import decision_body, json_field, parse_verify_body

AGENT = "agt_" + "a" * 20


def body(**fields: object) -> bytes:
    return json.dumps({"agentId": AGENT, "action": "purchase", **fields}).encode()


def refused(raw: bytes) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_verify_body(raw)
    return caught.value.field


def test_the_brief_snippet_with_vendor_and_a_numeric_amount():
    request = parse_verify_body(
        b'{"agentId": "%s", "action": "purchase", "vendor": "coachella.com",'
        b' "amount": 799.99, "currency": "USD"}' % AGENT.encode()
    )
    assert (request.agent_id, request.action, request.resource) == (
        AGENT,
        "purchase",
        "coachella.com",
    )
    assert (request.amount.amount_minor, request.amount.currency) == (79999, "USD")


def test_amounts_in_each_spelling():
    assert parse_verify_body(body(amount="0.10", currency="USD")).amount.amount_minor == 10
    assert parse_verify_body(body(amount=1500, currency="JPY")).amount.amount_minor == 1500
    assert parse_verify_body(body(amount="1.234", currency="KWD")).amount.amount_minor == 1234
    assert parse_verify_body(body(amountMinor=5, currency="USD")).amount.amount_minor == 5
    assert not parse_verify_body(body()).HasField("amount")


@given(
    minor=st.integers(min_value=0, max_value=2**63 - 1),
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR", "BHD"]),
    as_number=st.booleans(),
)
def test_major_units_convert_exactly(minor: int, currency: str, as_number: bool):
    """Whatever the decimals, a major-unit amount lands on exactly its minor units: JSON
    numbers are read as decimals, never floats."""
    major = Decimal(minor).scaleb(-minor_unit_exponent(currency))
    text = f"{major:f}"
    raw = body(currency=currency, amount=text)
    if as_number:
        raw = raw.replace(f'"{text}"'.encode(), text.encode())
    assert parse_verify_body(raw).amount.amount_minor == minor


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"agentId": "x", "action": "a", "amount": NaN, "currency": "USD"}', "body"),
        (body(ammount=5), "ammount"),
        (body(agentId=7), "agentId"),
        (body(amount="1.001", currency="USD"), "amount"),
        (body(amount="0.5", currency="JPY"), "amount"),
        (body(amount=-1, currency="USD"), "amount"),
        (body(amount="1e400", currency="USD"), "amount"),
        (body(amount="Infinity", currency="USD"), "amount"),
        (body(amount="twelve", currency="USD"), "amount"),
        (body(amount=True, currency="USD"), "amount"),
        (body(amount=5), "currency"),
        (body(currency="USD"), "currency"),
        (body(amount=5, currency="usd"), "currency"),
        (body(amount=5, amountMinor=500, currency="USD"), "amountMinor"),
        (body(amountMinor=1.5, currency="USD"), "amountMinor"),
        (body(amountMinor=2**63, currency="USD"), "amountMinor"),
        (body(minRevision=-1), "minRevision"),
        (body(minRevision="3"), "minRevision"),
        (body(resource="a.com", vendor="b.com"), "vendor"),
        (body(context=["x"]), "context"),
        (body(context={"k": 1}), "context[k]"),
        (body(testMode="yes"), "testMode"),
        # Two values for one name: parsers disagree on which wins, so neither does.
        (
            b'{"agentId": "a", "action": "b", "amountMinor": 100000, "amountMinor": 1}',
            "amountMinor",
        ),
        (b'{"agentId": "a", "agentId": "b", "action": "c"}', "agentId"),
        (b'{"agentId": "a", "action": "c", "context": {"k": "1", "k": "2"}}', "k"),
        # A lone surrogate, spelt as a JSON escape: a 400, not a 500.
        (b'{"agentId": "a", "action": "b", "resource": "\\ud800.example"}', "resource"),
        (b'{"agentId": "a", "action": "b", "context": {"k": "\\udfff"}}', "context[k]"),
        (b'{"agentId": "a", "action": "b", "context": {"\\ud800": "v"}}', "context"),
        # JSON is UTF-8 (RFC 8259): UTF-16 and UTF-32, which a proxy in front reading UTF-8
        # would see as no JSON at all, are refused, not decided.
        ('{"agentId": "a", "action": "b"}'.encode("utf-16"), "body"),
        ('{"agentId": "a", "action": "b"}'.encode("utf-32-le"), "body"),
        (b'{"agentId": "a\xff", "action": "b"}', "body"),
    ],
)
def test_bad_bodies_name_the_json_field(raw: bytes, field: str):
    assert refused(raw) == field


def test_validation_errors_speak_json():
    assert json_field("agent_id") == "agentId"
    assert json_field("amount.currency") == "currency"
    assert json_field("amount.amount_minor") == "amountMinor"
    assert json_field("context[k]") == "context[k]"


def test_a_decision_in_json():
    decision = common_pb2.Decision(
        request_id="req_1",
        outcome=common_pb2.OUTCOME_REQUIRE_APPROVAL,
        reason_code=common_pb2.REASON_CODE_APPROVAL_REQUIRED,
        reason="needs a human",
        risk=common_pb2.RISK_HIGH,
        permission_id="perm_1",
        policy_revision=42,
        approval_id="apr_1",
    )
    assert decision_body(decision) == {
        "requestId": "req_1",
        "allowed": False,
        "outcome": "REQUIRE_APPROVAL",
        "reasonCode": "APPROVAL_REQUIRED",
        "reason": "needs a human",
        "risk": "high",
        "permissionId": "perm_1",
        "policyRevision": 42,
        "approvalId": "apr_1",
        "testMode": False,
    }
    allowed = decision_body(common_pb2.Decision(outcome=common_pb2.OUTCOME_ALLOW))
    assert allowed["allowed"] is True and allowed["approvalId"] is None
    test = decision_body(common_pb2.Decision(outcome=common_pb2.OUTCOME_ALLOW, test_mode=True))
    assert test["allowed"] is False and test["testMode"] is True  # a test authorizes nothing


HUGE = "1e1000000000000000000"  # beyond Decimal's exponent range


@pytest.mark.parametrize(
    ("field", "body", "problem"),
    [
        ("agentId", f'{{"agentId": {HUGE}, "action": "x"}}', "must be a string"),
        ("requestId", f'{{"agentId": "agt_x", "action": "x", "requestId": {HUGE}}}', "string"),
        (
            "context[k]",
            f'{{"agentId": "agt_x", "action": "x", "context": {{"k": {HUGE}}}}}',
            "string",
        ),
        ("amount", f'{{"agentId": "agt_x", "amount": {HUGE}, "currency": "USD"}}', "out of range"),
        ("minRevision", f'{{"agentId": "agt_x", "minRevision": {HUGE}}}', "out of range"),
        (
            "amountMinor",
            f'{{"agentId": "a", "amountMinor": {"9" * 40}, "currency": "USD"}}',
            "range",
        ),
    ],
)
def test_a_number_no_field_takes_is_refused_naming_its_field(
    field: str, body: str, problem: str
) -> None:
    """A number out of Decimal's range, or an integer of 40 digits, is neither a crash (500)
    nor "not valid JSON", and never passes as a string field."""
    with pytest.raises(InvalidArgument) as refused:
        parse_verify_body(body.encode())
    assert refused.value.field == field and problem in refused.value.problem
