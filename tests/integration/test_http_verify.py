"""Verify over HTTP/JSON against the real verifier: the brief's call works as written, every
decision is a 200 that says `allowed` only for an ALLOW, and requests that get no decision
say why with the right status and the JSON field at fault. Every response matches the
OpenAPI document the verifier serves."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from behalf.v1 import common_pb2, registry_pb2
from behalf.verifier.openapi import OPENAPI
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("http"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("http")


@pytest.fixture(scope="module")
def buyer(stack: Stack, tenant: Tenant) -> tuple[str, int]:
    agent_id, grant = stack.agent_with_grant(tenant)
    return agent_id, grant.revision


def post(
    stack: Stack,
    payload: bytes | dict[str, Any],
    key: str | None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"{stack.verifiers[0].http_url}/v1/verify", data=data, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def post_with_raw_authorization(
    stack: Stack, payload: dict[str, Any], authorization: bytes
) -> tuple[int, dict[str, Any]]:
    """POST with an Authorization header of arbitrary bytes, which urllib would not send."""
    url = urllib.parse.urlsplit(stack.verifiers[0].http_url)
    assert url.hostname is not None and url.port is not None
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        body = json.dumps(payload).encode()
        connection.putrequest("POST", "/v1/verify")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Authorization", authorization)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def conforms(body: dict[str, Any], schema: str) -> None:
    """`body` validates against components/schemas/<schema> of the served document."""
    jsonschema.validate(
        body, {"$ref": f"#/components/schemas/{schema}", "components": OPENAPI["components"]}
    )


def test_the_brief_snippet_allows_and_the_limit_holds(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int]
) -> None:
    agent_id, revision = buyer
    ask = {"agentId": agent_id, "action": "purchase", "vendor": "coachella.com"}
    ask |= {"currency": "USD", "minRevision": revision}
    status, allowed = post(stack, {**ask, "amount": 799.99}, tenant.verify_key)
    assert status == 200, allowed
    conforms(allowed, "Decision")
    assert allowed["allowed"] is True and allowed["outcome"] == "ALLOW"
    assert allowed["risk"] in {"low", "medium", "high"}
    assert allowed["requestId"].startswith("req_") and allowed["permissionId"]

    status, over = post(stack, {**ask, "amount": "800.01"}, tenant.verify_key)
    assert status == 200
    conforms(over, "Decision")
    assert (over["allowed"], over["reasonCode"]) == (False, "AMOUNT_EXCEEDS_LIMIT")
    # A cent more in minor units is the same question.
    status, minor = post(stack, {**ask, "amountMinor": 80001}, tenant.verify_key)
    assert (status, minor["reasonCode"]) == (200, "AMOUNT_EXCEEDS_LIMIT")


def test_an_agent_cannot_slip_past_through_the_json(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int]
) -> None:
    """A misspelt amount field, a fractional cent, an unknown resource spelling: refused or
    denied, never allowed without the limit."""
    agent_id, revision = buyer
    ask = {"agentId": agent_id, "action": "purchase", "resource": "coachella.com"}
    ask |= {"minRevision": revision}
    status, typo = post(stack, {**ask, "ammount": 900, "currency": "USD"}, tenant.verify_key)
    assert (status, typo["error"]["field"]) == (400, "ammount")
    conforms(typo, "Error")
    status, cent = post(stack, {**ask, "amount": "799.999", "currency": "USD"}, tenant.verify_key)
    assert (status, cent["error"]["field"]) == (400, "amount")
    status, unlimited = post(stack, ask, tenant.verify_key)
    assert (status, unlimited["reasonCode"]) == (200, "AMOUNT_REQUIRED")
    status, ambiguous = post(
        stack,
        {**ask, "resource": "evil.com\\@coachella.com", "amount": 1, "currency": "USD"},
        tenant.verify_key,
    )
    assert (status, ambiguous["error"]["field"]) == (400, "resource")


def test_requests_without_a_decision_say_why(stack: Stack, tenant: Tenant) -> None:
    ask = {"agentId": "agt_" + "a" * 20, "action": "purchase", "resource": "coachella.com"}
    status, missing = post(stack, ask, None)
    assert status == 401 and missing["error"]["code"] == "unauthenticated"
    status, wrong = post(stack, ask, "bhk_not_a_key")
    assert status == 401 and wrong["error"]["code"] == "unauthenticated"
    for raw in (b"Bearer \xff\xfe", b"Bearer bhk_verify_\xc3\xa9", b"Bearer    "):
        status, odd = post_with_raw_authorization(stack, ask, raw)
        assert (status, odd["error"]["code"]) == (401, "unauthenticated"), raw
    conforms(wrong, "Error")
    status, admin = post(stack, ask, tenant.admin_key)
    assert status == 200 and admin["reasonCode"] == "AGENT_NOT_FOUND"  # admin keys verify too
    status, bad_id = post(stack, {**ask, "agentId": "nope"}, tenant.verify_key)
    assert (status, bad_id["error"]["field"]) == (400, "agentId")
    status, not_json = post(stack, b"agentId=x", tenant.verify_key, "text/plain")
    assert status == 415 and not_json["error"]["code"] == "unsupported_media_type"
    status, huge = post(stack, {**ask, "context": {"k": "v" * 70_000}}, tenant.verify_key)
    assert status == 413 and huge["error"]["code"] == "too_large"
    conforms(huge, "Error")


def test_a_verifier_behind_is_a_decision_not_an_error(
    stack: Stack, tenant: Tenant, buyer: tuple[str, int]
) -> None:
    agent_id, _ = buyer
    ask = {"agentId": agent_id, "action": "purchase", "resource": "coachella.com"}
    status, stale = post(
        stack,
        {**ask, "amountMinor": 1, "currency": "USD", "minRevision": 10**15},
        tenant.verify_key,
    )
    assert status == 200
    assert (stale["allowed"], stale["reasonCode"]) == (False, "STALE_POLICY")


def test_the_openapi_document_is_served(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.verifiers[0].http_url}/openapi.json", timeout=10) as r:
        assert json.loads(r.read()) == OPENAPI


def get(stack: Stack, path: str, key: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    request = urllib.request.Request(f"{stack.verifiers[0].http_url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_an_http_client_waits_for_a_human_and_then_acts_once(stack: Stack, tenant: Tenant) -> None:
    """REQUIRE_APPROVAL gives an approval id; GET /v1/approvals/{id} shows it pending, then
    approved once a human says so; the same request with it is allowed once, and the approval
    reads as consumed."""
    agent_id, grant = stack.agent_with_grant(tenant, "careful", requires_approval=True)
    ask = {"agentId": agent_id, "action": "purchase", "vendor": "coachella.com"}
    ask |= {"amount": "120.00", "currency": "USD", "minRevision": grant.revision}
    status, pending = post(stack, ask, tenant.verify_key)
    assert (status, pending["outcome"]) == (200, "REQUIRE_APPROVAL")
    approval_id = pending["approvalId"]
    status, approval = get(stack, f"/v1/approvals/{approval_id}", tenant.verify_key)
    assert status == 200, approval
    conforms(approval, "Approval")
    assert approval["state"] == "PENDING"
    assert (approval["agentId"], approval["amountMinor"]) == (agent_id, 12000)

    stack.registry_stub().ResolveApproval(
        registry_pb2.ResolveApprovalRequest(
            approval_id=approval_id, approve=True, resolved_by="alice@example.com"
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    status, approved = get(stack, f"/v1/approvals/{approval_id}", tenant.verify_key)
    assert (status, approved["state"]) == (200, "APPROVED")
    status, allowed = post(stack, {**ask, "approvalId": approval_id}, tenant.verify_key)
    assert (status, allowed["allowed"], allowed["reasonCode"]) == (200, True, "APPROVAL_CONSUMED")
    status, again = post(stack, {**ask, "approvalId": approval_id}, tenant.verify_key)
    assert again["allowed"] is False  # an approval allows exactly once
    status, consumed = get(stack, f"/v1/approvals/{approval_id}", tenant.verify_key)
    assert consumed["state"] == "CONSUMED" and consumed["consumeTime"]


def test_approval_reads_refuse_strangers_and_bad_ids(stack: Stack, tenant: Tenant) -> None:
    other = stack.create_tenant("http-other")
    agent_id, grant = stack.agent_with_grant(other, "theirs", requires_approval=True)
    ask = {"agentId": agent_id, "action": "purchase", "resource": "coachella.com"}
    ask |= {"amountMinor": 100, "currency": "USD", "minRevision": grant.revision}
    _, pending = post(stack, ask, other.verify_key)
    theirs = pending["approvalId"]
    status, _ = get(stack, f"/v1/approvals/{theirs}", tenant.verify_key)
    assert status == 404  # another tenant's approval does not exist for this key
    status, body = get(stack, f"/v1/approvals/{theirs}", None)
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, body = get(stack, "/v1/approvals/not-an-id", tenant.verify_key)
    assert (status, body["error"]["field"]) == (400, "approvalId")
    conforms(body, "Error")


def test_an_agent_cannot_get_past_over_http(stack: Stack, tenant: Tenant) -> None:
    """What an agent holding a verify key may try over HTTP: asking in test mode and acting
    on it, another tenant's agent, a request id replayed for a bigger amount."""
    budget = common_pb2.Money(amount_minor=50_000, currency="USD")
    agent_id, grant = stack.agent_with_grant(tenant, "http-budgeted", budget=budget)
    ask = {"agentId": agent_id, "action": "purchase", "vendor": "coachella.com"}
    ask |= {"currency": "USD", "minRevision": grant.revision}

    status, test = post(stack, {**ask, "amount": "10.00", "testMode": True}, tenant.verify_key)
    assert (status, test["outcome"], test["testMode"]) == (200, "ALLOW", True)
    assert test["allowed"] is False  # a test decision authorizes nothing

    other = stack.create_tenant("http-stranger")
    theirs, their_grant = stack.agent_with_grant(other, "theirs")
    status, stranger = post(
        stack,
        {**ask, "agentId": theirs, "amount": "1.00", "minRevision": their_grant.revision},
        tenant.verify_key,
    )
    assert (status, stranger["allowed"], stranger["reasonCode"]) == (200, False, "AGENT_NOT_FOUND")

    status, first = post(
        stack, {**ask, "amount": "1.00", "requestId": "http-once"}, tenant.verify_key
    )
    assert first["allowed"] is True
    status, replay = post(
        stack, {**ask, "amount": "400.00", "requestId": "http-once"}, tenant.verify_key
    )
    assert (replay["allowed"], replay["reasonCode"]) == (False, "REQUEST_ID_REUSED")
