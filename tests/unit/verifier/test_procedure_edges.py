"""Edges of the decision procedure (§4) an agent can reach: blocks, wildcards, missing amounts,
windows, test mode, resource spellings, Check against Verify."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from behalf.common.errors import InvalidArgument
from behalf.v1 import common_pb2, verifier_pb2
from behalf.verifier import ext_authz
from behalf.verifier.dry_run import DryRunSteps
from behalf.verifier.engine import Freshness, Money, Outcome, ReasonCode, VerifyInput, decide
from behalf.verifier.snapshot import AgentEntry, PermissionEntry, snapshot_from_entries
from behalf.verifier.validation import validate_verify

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FRESH = Freshness(silent_for=timedelta(0), staleness_bound=timedelta(seconds=30))
TENANT = "ten_edges000000000000000"
AGENT = "agt_edges000000000000000"


@dataclass
class Steps:
    fits: bool = True
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def reserve_budget(self, request, permission_id, amount):
        self.calls.append(("reserve", permission_id))
        return "claim" if self.fits else None

    async def check_budget(self, request, permission_id, amount):
        self.calls.append(("check", permission_id))
        return self.fits

    async def create_approval(self, request, permission_id):
        self.calls.append(("create", permission_id))
        return "apr_created0000000000000"

    async def consume_approval(self, request, permission_id, approval_id):
        self.calls.append(("consume", permission_id))
        return True


def _perm(pid: str, resources=("shop.example",), allowed=("purchase",), **kw) -> PermissionEntry:
    return PermissionEntry(
        permission_id=pid,
        tenant_id=TENANT,
        agent_id=AGENT,
        allowed_actions=frozenset(allowed),
        exact_resources=tuple(r for r in resources if not r.startswith("*")),
        wildcard_resources=tuple(r for r in resources if r.startswith("*.")),
        any_resource="*" in resources,
        **kw,
    )


def _decide(perms, steps, amount=None, resource="shop.example", action="purchase", **kw):
    snapshot = snapshot_from_entries(3, [AgentEntry(TENANT, AGENT, disabled=False)], perms)
    asked = VerifyInput(
        tenant_id=TENANT,
        agent_id=AGENT,
        action=action,
        resource=resource,
        amount=amount,
        request_id="req-safe",
        **kw,
    )
    return asyncio.run(decide(asked, snapshot, NOW, FRESH, steps))


def test_a_block_wins_in_an_indexed_passport() -> None:
    """20 permissions (past the 16 from which passports are indexed by action): a wildcard block
    still beats an exact, unlimited allow, and nothing is reserved or created."""
    fillers = [_perm(f"prm_f{i:02d}", (f"h{i}.example",), ("read_email",)) for i in range(18)]
    allow = _perm("prm_a", ("shop.example",))
    block = PermissionEntry(
        **{
            **_perm("prm_z", ("*.example",), ("browse_web",))._asdict(),
            "blocked_actions": frozenset({"purchase"}),
        }
    )
    steps = Steps()
    result = _decide([*fillers, allow, block], steps)
    assert result.reason_code is ReasonCode.ACTION_BLOCKED and steps.calls == []


@pytest.mark.parametrize(
    "resource", ["shop.example", "evilshop.example", "shop.example.evil.test", "xshop.example"]
)
def test_wildcards_cover_strict_subdomains_only(resource: str) -> None:
    result = _decide([_perm("prm_w", ("*.shop.example",))], Steps(), resource=resource)
    assert result.outcome is Outcome.DENY


def test_leaving_out_the_amount_never_skips_a_limit() -> None:
    """Budgeted and max-amount grants need an amount; an unlimited grant that requires approval
    is chosen instead, and asks a human (never ALLOW)."""
    budgeted = _perm("prm_b", budget=Money(100, "USD"))
    limited = _perm("prm_c", max_amount=Money(100, "USD"))
    assert _decide([budgeted, limited], Steps()).reason_code is ReasonCode.AMOUNT_REQUIRED
    gated = _perm("prm_d", ("*",), requires_approval=True)
    result = _decide([budgeted, limited, gated], Steps())
    assert result.outcome is Outcome.REQUIRE_APPROVAL and result.permission_id == "prm_d"


def test_an_amount_over_the_small_limit_goes_to_the_approval_grant() -> None:
    small = _perm("prm_a", max_amount=Money(100, "USD"), budget=Money(1000, "USD"))
    big = _perm("prm_b", max_amount=Money(10_000, "USD"), requires_approval=True)
    steps = Steps()
    result = _decide([small, big], steps, Money(5000, "USD"))
    assert result.outcome is Outcome.REQUIRE_APPROVAL and steps.calls == [("create", "prm_b")]
    steps = Steps()
    result = _decide([small, big], steps, Money(50, "USD"))
    assert result.outcome is Outcome.ALLOW and steps.calls == [("reserve", "prm_a")]


def test_time_window_bounds() -> None:
    """not_before <= now < expires_at, exactly."""
    at_start = _perm("prm_a", not_before=NOW)
    at_end = _perm("prm_b", expires_at=NOW)
    assert _decide([at_start], Steps()).outcome is Outcome.ALLOW
    assert _decide([at_end], Steps()).reason_code is ReasonCode.PERMISSION_EXPIRED


def test_test_mode_spends_nothing() -> None:
    perm = _perm("prm_a", budget=Money(100, "USD"), requires_approval=True)
    reader = Steps()
    result = _decide([perm], DryRunSteps(reader), Money(10, "USD"), approval_id="apr_x")
    assert result.outcome is Outcome.DENY
    assert all(kind == "check" for kind, _ in reader.calls)


@pytest.mark.parametrize(
    "raw",
    [
        "http://evil.example\\@shop.example/",
        "https://shop.example@evil.example",
        "https://shop.example.",
        "https://shop%2eexample",
        "shop\u3002example",
        "shop.example:443",
        "https://shop.example\u200b",
        "javascript://shop.example",
        "http://0x7f.1",
        "https:/shop.example",
        "//shop.example",
        "https://[fe80::1%25eth0]",
        "*.shop.example",
        "a" * 600,
    ],
)
def test_ambiguous_resources_are_invalid_argument(raw: str) -> None:
    request = verifier_pb2.VerifyRequest(agent_id=AGENT, action="purchase", resource=raw)
    with pytest.raises(InvalidArgument) as caught:
        validate_verify(request, TENANT)
    assert caught.value.field == "resource"


def test_check_and_verify_read_the_same_host() -> None:
    """Envoy's authority and a Verify URL naming the same host normalize alike; a declared
    x-behalf-resource naming another host is refused."""
    from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2

    def check(host: str, headers: dict[str, str]):
        http = attribute_context_pb2.AttributeContext.HttpRequest(host=host, headers=headers)
        return external_auth_pb2.CheckRequest(
            attributes=attribute_context_pb2.AttributeContext(
                request=attribute_context_pb2.AttributeContext.Request(http=http)
            )
        )

    base = {"x-behalf-agent-id": AGENT, "x-behalf-action": "purchase"}
    c = check("SHOP.Example:8443", base)
    mapped = ext_authz.verify_request_from_check(c, "req_x", ext_authz.http_headers(c))
    via_check = validate_verify(mapped, TENANT).resource
    direct = verifier_pb2.VerifyRequest(
        agent_id=AGENT, action="purchase", resource="https://shop.example:8443/cart"
    )
    assert via_check == validate_verify(direct, TENANT).resource == "shop.example"
    c = check("evil.example", {**base, "x-behalf-resource": "shop.example"})
    with pytest.raises(InvalidArgument):
        ext_authz.verify_request_from_check(c, "req_x", ext_authz.http_headers(c))


def test_amount_and_currency_validation() -> None:
    def ask(amount):
        return validate_verify(
            verifier_pb2.VerifyRequest(
                agent_id=AGENT, action="purchase", resource="shop.example", amount=amount
            ),
            TENANT,
        )

    for bad in (
        common_pb2.Money(amount_minor=-1, currency="USD"),
        common_pb2.Money(amount_minor=1),
        common_pb2.Money(amount_minor=1, currency="usd"),
        common_pb2.Money(amount_minor=1, currency="US"),
    ):
        with pytest.raises(InvalidArgument):
            ask(bad)
    assert ask(common_pb2.Money(amount_minor=0, currency="USD")).amount == Money(0, "USD")
