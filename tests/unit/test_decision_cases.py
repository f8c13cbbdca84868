"""Runs the table of decision cases in tests/cases/decisions.json against the engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from behalf.common.resource_names import normalize_resource
from behalf.v1 import common_pb2, resources_pb2, verifier_pb2
from behalf.verifier.engine import (
    DecisionResult,
    Freshness,
    Money,
    ReasonCode,
    RegistryUnavailable,
    RequestIdReused,
    VerifyInput,
    decide,
    deny_for_audit_failure,
)
from behalf.verifier.snapshot import build_snapshot

CASES_FILE = Path(__file__).parent.parent / "cases" / "decisions.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text())["cases"]
STALENESS_BOUND = timedelta(seconds=30)
NEW_APPROVAL_ID = "apr_created0000000000000"


class CaseRegistry:
    """The registry's stateful steps, simulated from a case's policy and approvals."""

    def __init__(
        self,
        permissions: list[resources_pb2.Permission],
        approvals: list[resources_pb2.Approval],
        now: datetime,
        unavailable: bool,
        request_id_taken: bool = False,
    ) -> None:
        self.permissions = {p.permission_id: p for p in permissions}
        self.approvals = {a.approval_id: a for a in approvals}
        self.now = now
        self.unavailable = unavailable
        self.request_id_taken = request_id_taken

    def _fault(self) -> None:
        if self.unavailable:
            raise RegistryUnavailable("injected")
        if self.request_id_taken:
            raise RequestIdReused("injected")

    async def reserve_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> str | None:
        self._fault()
        permission = self.permissions[permission_id]
        remaining = permission.budget.amount_minor - permission.budget_spent_minor
        if amount.amount_minor > remaining:
            return None
        permission.budget_spent_minor += amount.amount_minor
        return f"claim-{request.request_id}"

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        self._fault()
        return NEW_APPROVAL_ID

    async def consume_approval(
        self, request: VerifyInput, permission_id: str, approval_id: str
    ) -> bool:
        self._fault()
        approval = self.approvals.get(approval_id)
        if approval is None or approval.tenant_id != request.tenant_id:
            return False
        amount = (
            Money(approval.amount.amount_minor, approval.amount.currency)
            if approval.HasField("amount")
            else None
        )
        usable = (
            approval.state == resources_pb2.APPROVAL_STATE_APPROVED
            and approval.expire_time.ToDatetime(tzinfo=self.now.tzinfo) > self.now
            and (approval.agent_id, approval.action, approval.resource, amount)
            == (request.agent_id, request.action, request.resource, request.amount)
            and approval.permission_id == permission_id
        )
        if usable:
            approval.state = resources_pb2.APPROVAL_STATE_CONSUMED
        return usable


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 'Z' timestamp into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def run_case(case: dict[str, Any]) -> DecisionResult:
    """Build the case's snapshot, request and registry, decide, and apply injected faults."""
    faults = case.get("faults", {})
    now = parse_time(case["now"])
    policy = case["policy"]
    agents = [json_format.ParseDict(a, resources_pb2.Agent()) for a in policy["agents"]]
    permissions = [
        json_format.ParseDict(p, resources_pb2.Permission()) for p in policy["permissions"]
    ]
    approvals = [
        json_format.ParseDict(a, resources_pb2.Approval()) for a in policy.get("approvals", [])
    ]
    snapshot = None
    if not faults.get("no_snapshot"):
        snapshot = build_snapshot(int(policy["revision"]), agents, permissions)
    message = json_format.ParseDict(case["request"], verifier_pb2.VerifyRequest())
    request = VerifyInput(
        tenant_id=case["tenant_id"],
        agent_id=message.agent_id,
        action=message.action,
        resource=normalize_resource(message.resource) if message.resource else "",
        amount=(
            Money(message.amount.amount_minor, message.amount.currency)
            if message.HasField("amount")
            else None
        ),
        min_revision=message.min_revision,
        approval_id=message.approval_id,
        request_id=message.request_id or f"req_{case['name']}",
    )
    freshness = Freshness(
        silent_for=timedelta(seconds=faults.get("registry_silent_seconds", 0)),
        staleness_bound=STALENESS_BOUND,
    )
    registry = CaseRegistry(
        permissions,
        approvals,
        now,
        faults.get("registry_unavailable", False),
        request_id_taken=faults.get("request_id_taken_by_another_request", False),
    )
    result = await decide(request, snapshot, now, freshness, registry)
    if faults.get("audit_unavailable"):
        result = deny_for_audit_failure(result)
    return result


def foreign_ids(case: dict[str, Any]) -> set[str]:
    """Ids of the case's objects that belong to another tenant than the caller's."""
    policy = case["policy"]
    objects = policy["agents"] + policy["permissions"] + policy.get("approvals", [])
    ids = set()
    for obj in objects:
        if obj["tenant_id"] != case["tenant_id"]:
            ids |= {obj["tenant_id"]} | {v for k, v in obj.items() if k.endswith("_id")}
    return ids


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_decision_case(case: dict[str, Any]) -> None:
    """The engine decides each case exactly as the table expects."""
    result = await run_case(case)
    expect = case["expect"]
    got = {
        "outcome": common_pb2.Outcome.Name(result.outcome.value),
        "reason_code": common_pb2.ReasonCode.Name(result.reason_code.value),
        "risk": common_pb2.Risk.Name(result.risk.value),
        "permission_id": result.permission_id,
    }
    wanted = {key: expect[key] for key in got}
    assert got == wanted, result.reason
    assert result.policy_revision == int(expect.get("policy_revision", case["policy"]["revision"]))
    if expect.get("new_approval"):
        assert result.approval_id == NEW_APPROVAL_ID
    else:
        assert result.approval_id == expect.get("approval_id", "")
    assert result.reason
    assert not any(foreign in result.reason for foreign in foreign_ids(case))


def test_cases_cover_every_reason_code() -> None:
    """Every ReasonCode is the expected code of at least one case."""
    covered = {case["expect"]["reason_code"].removeprefix("REASON_CODE_") for case in CASES}
    assert covered == {code.name for code in ReasonCode}


def test_case_names_are_unique_and_described() -> None:
    """Each case has a unique name and a description."""
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))
    assert all(case["description"] for case in CASES)
