"""The console of tenant A's admin against tenant B's ids: the console runs in-process against
the real registry and verifier (PostgreSQL and Kafka behind them)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.console import console_client, csrf_of, signed_in
from tests.harness.decisions import wait_audited
from tests.harness.stack import Stack, Tenant, start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("console-cross-tenant")
    )
    yield stack
    await stop_stack(stack)


def _pending_approval(stack: Stack, tenant: Tenant) -> str:
    agent_id, grant = stack.agent_with_grant(tenant, "careful", requires_approval=True)
    decision = (
        stack.verifier_stub()
        .Verify(
            verifier_pb2.VerifyRequest(
                agent_id=agent_id,
                action="purchase",
                resource="coachella.com",
                amount=common_pb2.Money(amount_minor=12_000, currency="USD"),
                min_revision=grant.revision,
                request_id="cross-tenant-1",
            ),
            metadata=tenant.verify,
            timeout=10,
        )
        .decision
    )
    assert decision.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    return str(decision.approval_id)


async def test_tenant_a_cannot_approve_or_read_tenant_b_by_id(stack: Stack) -> None:
    """FOUND SAFE (passes now). Attack: an admin of tenant A (or a page that gets A's browser
    to post with a valid token) edits the approval id in `/approvals/{id}/resolve` to one of
    tenant B's, and opens `/approvals/{id}/decision` and `/decisions/<B's request id>`. The
    console forwards the signed-in key, the registry scopes every lookup to A, so all are 404
    and B's approval stays PENDING; a cross-site Origin is refused before the handler runs."""
    a = stack.create_tenant("console-a")
    b = stack.create_tenant("console-b")
    theirs = _pending_approval(stack, b)
    wait_audited(stack, b, "cross-tenant-1")
    client = await console_client(stack)
    try:
        html = await signed_in(client, a.admin_key)
        token = csrf_of(html)
        cross = await client.post(
            f"/approvals/{theirs}/resolve",
            data={"csrf_token": token, "decision": "approve"},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        assert cross.status == 403
        resolved = await client.post(
            f"/approvals/{theirs}/resolve",
            data={"csrf_token": token, "decision": "approve"},
            allow_redirects=False,
        )
        assert resolved.status == 404, await resolved.text()
        made_up = "apr_" + "z" * 20
        unknown = await client.post(
            f"/approvals/{made_up}/resolve",
            data={"csrf_token": token, "decision": "approve"},
            allow_redirects=False,
        )
        # The same answer as for an id that exists nowhere: existence in B is not revealed.
        assert (await resolved.text()).replace(theirs, "ID") == (await unknown.text()).replace(
            made_up, "ID"
        )
        for path in (f"/approvals/{theirs}/decision", "/decisions/cross-tenant-1"):
            page = await client.get(path)
            assert page.status == 404, path
            assert "coachella" not in await page.text()
        listed = await (await client.get("/approvals?state=all")).text()
        assert theirs not in listed
    finally:
        await client.close()
    state = (
        stack.registry_stub()
        .GetApproval(
            registry_pb2.GetApprovalRequest(approval_id=theirs), metadata=b.admin, timeout=10
        )
        .approval.state
    )
    assert state == resources_pb2.APPROVAL_STATE_PENDING
    assert re.fullmatch(r"apr_[0-9a-z]+", theirs)
