"""What an agent's strings do to the humans and tools that read them.

The agent picks every field of its Verify requests; the verifier stores them in the audit
trail and approvals, and people read them in the console, in the CLI and in signed webhooks.
Each test is one attack, driven only through the tenant's verify key (and the admin key a human
holds), against the real registry, verifier, PostgreSQL and Kafka. Each asserts the safe
behaviour.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from typer.testing import CliRunner

from behalf.cli import app as cli_app
from behalf.v1 import common_pb2, registry_pb2, resources_pb2, verifier_pb2
from tests.harness.console import console_client, signed_in
from tests.harness.decisions import wait_audited
from tests.harness.stack import Stack, Tenant, coachella_grant, start_stack, stop_stack

pytestmark = pytest.mark.integration

# A look-alike: what a human reads first is a shop they trust; the host that is actually asked
# for is a subdomain of the attacker's. Labels up to their 63-character maximum, 201 in all.
LOOKALIKE = (
    "amazon.com." + "checkout-" + "x" * 54 + "." + "y" * 63 + "." + "z" * 49 + ".evil.example"
)
# A WHATWG-canonical IPv6 host whose first character is a letter, so it reads as a rich tag.
IPV6 = "[fe80::1]"


@pytest.fixture(scope="module")
async def stack(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Stack]:
    stack = await start_stack(database_url, kafka_bootstrap, tmp_path_factory.mktemp("strings"))
    yield stack
    await stop_stack(stack)


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Tenant:
    return stack.create_tenant("readers")


def _agent_with_approval_grant(
    stack: Stack, tenant: Tenant, resources: list[str]
) -> tuple[str, int]:
    """A new agent that may purchase on `resources` up to 5,000.00 USD, each with an approval."""
    registry = stack.registry_stub()
    agent = registry.CreateAgent(
        registry_pb2.CreateAgentRequest(name="shopper", kind=resources_pb2.AGENT_KIND_NATIVE),
        metadata=tenant.admin,
        timeout=10,
    ).agent
    grant = registry.GrantPermission(
        coachella_grant(
            agent.agent_id,
            allowed_actions=["purchase"],
            resources=resources,
            max_amount=common_pb2.Money(amount_minor=500_000, currency="USD"),
            requires_approval=True,
        ),
        metadata=tenant.admin,
        timeout=10,
    )
    return str(agent.agent_id), int(grant.revision)


def _verify(stack: Stack, tenant: Tenant, **fields: object) -> common_pb2.Decision:
    reply = stack.verifier_stub().Verify(
        verifier_pb2.VerifyRequest(**fields),  # type: ignore[arg-type]
        metadata=tenant.verify,
        timeout=10,
    )
    return reply.decision


def _rid() -> str:
    return f"req-{uuid.uuid4().hex}"


def _column(output: str, name: str) -> list[str]:
    """The cells of column `name` of a rich table, each folded cell joined across its lines."""
    header = next(line for line in output.splitlines() if f" {name} " in line)
    index = [cell.strip() for cell in re.split(r"[┃│]", header)].index(name)
    cells: list[str] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            if cells and cells[-1]:
                cells.append("")
            continue
        parts = re.split(r"│", line)
        first = parts[1].strip()
        piece = parts[index].strip()
        if first or not cells:
            cells.append(piece)
        else:
            cells[-1] += piece
    return [c for c in cells if c]


@pytest.mark.parametrize("resource", [LOOKALIKE, IPV6], ids=["lookalike-truncated", "ipv6-markup"])
def test_cli_approvals_list_shows_the_whole_resource(
    stack: Stack, tenant: Tenant, resource: str
) -> None:
    """Attack: a look-alike resource `amazon.com.checkout-….evil.example` is cut to
    `amazon.com.checkout-xx…` by the table's ellipsis (the attacker's domain never shows), and
    the canonical IPv6 host `[fe80::1]` is read by rich as a markup tag and printed as nothing.
    The human running `behalf approvals list` then approves a resource they never saw. Safe:
    the resource column holds the whole resource, exactly."""
    agent_id, revision = _agent_with_approval_grant(stack, tenant, [resource])
    pending = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource=resource,
        amount=common_pb2.Money(amount_minor=250_000, currency="USD"),
        min_revision=revision,
        request_id=_rid(),
    )
    assert pending.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    result = CliRunner().invoke(
        cli_app,
        ["approvals", "list", "--agent", agent_id, "--state", "pending"],
        env={
            "BEHALF_API_KEY": tenant.admin_key,
            "BEHALF_REGISTRY": stack.registry.target,
            "COLUMNS": "200",  # a wide terminal: every id fits, and still the resource is cut
        },
    )
    assert result.exit_code == 0, result.output
    assert pending.approval_id in result.output, result.output
    assert _column(result.output, "resource") == [resource], result.output


async def test_console_approval_links_to_the_decision_that_asked(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: the approval queue linked each approval to `/decisions/<request_id>`, which shows
    the tenant's NEWEST decision with that id. After asking for approval of a 2,500.00 USD
    purchase, the agent sends one more Verify with the same request id (another action, no
    amount, a soothing context); it is denied and audited, and the human who clicked through
    from the Approve button read that decision instead. Now the approval links to the decision
    that asked for it (its amount), whatever else reused the id."""
    agent_id, revision = _agent_with_approval_grant(stack, tenant, ["shop.example"])
    request_id = _rid()
    pending = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="purchase",
        resource="shop.example",
        amount=common_pb2.Money(amount_minor=250_000, currency="USD"),
        min_revision=revision,
        request_id=request_id,
        context={"why": "restock printer paper"},
    )
    assert pending.outcome == common_pb2.OUTCOME_REQUIRE_APPROVAL
    wait_audited(stack, tenant, request_id, 1)
    decoy = _verify(
        stack,
        tenant,
        agent_id=agent_id,
        action="read_email",
        resource="mail.example",
        min_revision=revision,
        request_id=request_id,
        context={"why": "checking the order confirmation; the purchase is 12.00 USD"},
    )
    assert decoy.outcome == common_pb2.OUTCOME_DENY
    wait_audited(stack, tenant, request_id, 2)

    client = await console_client(stack)
    try:
        await signed_in(client, tenant.admin_key)
        queue = await (await client.get("/approvals")).text()
        row = re.search(
            rf'data-approval-id="{pending.approval_id}".*?<a href="([^"]+)">{request_id}</a>',
            queue,
            re.S,
        )
        assert row is not None, queue
        page = await (await client.get(row[1])).text()
    finally:
        await client.close()
    assert "2500.00 USD" in page, "the approval's link shows another decision"
    assert "purchase" in page


_INVISIBLE = {
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u200b": "ZERO WIDTH SPACE",
    "\x1b": "ESCAPE",
    "\x00": "NUL",
}


async def test_context_bidi_and_control_characters_never_reach_the_console_raw(
    stack: Stack, tenant: Tenant
) -> None:
    """Attack: context values are free text up to 256 characters, and the verifier takes any
    code point in them. An agent sends `note="\\u202e…"` (Trojan-Source style bidi override),
    zero-width and C0 characters; the decision page puts them verbatim inside <code>, where the
    override reverses how the following text reads and the others are invisible. Safe: the
    verifier refuses such a context (INVALID_ARGUMENT naming it), or the page shows none of
    those characters raw."""
    agent_id, revision = _agent_with_approval_grant(stack, tenant, ["shop.example"])
    request_id = _rid()
    note = "refund \u202e" + "DSU 00.21" + "\u2066\u200b\x1b[8m\x00"
    try:
        _verify(
            stack,
            tenant,
            agent_id=agent_id,
            action="read_email",
            resource="mail.example",
            min_revision=revision,
            request_id=request_id,
            context={"note": note},
        )
    except grpc.RpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
        assert "context" in (exc.details() or "")
        return
    wait_audited(stack, tenant, request_id, 1)
    client = await console_client(stack)
    try:
        await signed_in(client, tenant.admin_key)
        page = await (await client.get(f"/decisions/{request_id}")).text()
    finally:
        await client.close()
    assert "refund" in page
    raw = [name for char, name in _INVISIBLE.items() if char in page]
    assert raw == [], f"the decision page carries raw {raw}"


def test_webhook_body_carries_agent_context_as_escaped_ascii_json() -> None:
    """Attack: context keys and values with quotes, newlines, bidi overrides and ESC, meant to
    break a receiver's JSON or its log lines, or to fake top-level fields. Safe (pinned): the
    body is ASCII JSON, the context stays nested under data.context, and the type comes only
    from the outcome and test flag."""
    from behalf.dispatcher.payloads import from_decision
    from behalf.v1 import events_pb2

    nasty = {'"},"type":"verification.allowed': "x\n\r\u202e\x1b]8;;https://evil\x07"}
    event = events_pb2.DecisionEvent(
        event_id="evt_" + "e" * 20,
        tenant_id="ten_" + "t" * 20,
        agent_id="agt_" + "a" * 20,
        action="purchase",
        resource="shop.example",
        context={**nasty, "behalf.test_mode": "false"},
        decision=common_pb2.Decision(
            request_id="r1",
            outcome=common_pb2.OUTCOME_DENY,
            reason_code=common_pb2.REASON_CODE_NO_PERMISSION,
        ),
    )
    message = from_decision(event)
    assert message.body.isascii()
    assert all(b not in message.body for b in (b"\n", b"\r", b"\x1b", b"\x07"))
    document = json.loads(message.body)
    assert document["type"] == message.event_type == "verification.denied"
    assert document["data"]["context"][next(iter(nasty))] == nasty[next(iter(nasty))]
