"""The gate: may this tool call go upstream? Only on an explicit ALLOW from Verify.

    unrestricted tool            -> forward, no Verify
    tool not in the config       -> refused (TOOL_NOT_MAPPED), no Verify
    argument not read exactly    -> refused (ARGUMENT_REJECTED), no Verify
    an approval for this call    -> APPROVED: Verify with it; PENDING: refused (APPROVAL_PENDING);
                                    anything else: forgotten, Verify afresh
    Verify ALLOW                 -> forward
    Verify DENY                  -> refused with its reason code, reason and request id
    Verify REQUIRE_APPROVAL      -> refused with the approval id, remembered for this exact call
    no answer, any error         -> refused (VERIFICATION_UNAVAILABLE, ...): fail closed

Every Verify gets a fresh request id (the SDK's): a request id names one request, so a repeated
identical call is a new request; were ids derived from the arguments, the verifier would
answer a second identical purchase with the first one's outcome without reserving budget again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from behalf import (
    ActionDenied,
    Approval,
    ApprovalRequired,
    AuthenticationError,
    BehalfError,
    Decision,
    InvalidRequest,
    Money,
    NotFound,
    VerificationUnavailable,
)
from behalf.mcp_gateway.approvals import PendingApprovals, call_fingerprint
from behalf.mcp_gateway.config import ToolPolicy
from behalf.mcp_gateway.mapping import Question, question_for
from behalf.mcp_gateway.resources import ArgumentRejected

__all__ = ["Allowed", "Gate", "Refused", "Verdict", "VerifyClient"]

_log = structlog.get_logger("behalf.mcp_gateway")

# A test-mode answer with one of these says the agent may never call the tool as configured.
_HIDING_REASONS = frozenset({"NO_PERMISSION", "AGENT_NOT_FOUND", "AGENT_DISABLED"})


class VerifyClient(Protocol):
    """What the gate needs of `behalf.AsyncBehalf`."""

    async def verify(
        self,
        agent_id: str,
        action: str,
        *,
        resource: str = "",
        amount: Money | None = None,
        context: Mapping[str, str] | None = None,
        approval_id: str = "",
    ) -> Decision: ...

    async def check(self, agent_id: str, action: str, *, resource: str = "") -> Decision: ...

    async def get_approval(self, approval_id: str) -> Approval: ...


@dataclass(frozen=True)
class Allowed:
    """Forward the call; `decision` is None for an unrestricted tool."""

    decision: Decision | None


@dataclass(frozen=True)
class Refused:
    """Do not forward; the text tells the model why."""

    reason_code: str
    reason: str
    request_id: str = ""
    approval_id: str = ""

    def text(self) -> str:
        """What the model reads in the tool error."""
        if self.approval_id and self.reason_code != "APPROVAL_PENDING":
            head = "Behalf requires a human approval before this tool call can run."
        elif self.approval_id:
            head = "Behalf is still waiting for a human to approve this tool call."
        else:
            head = "Behalf denied this tool call; it was not run."
        lines = [
            head,
            f"reason_code: {self.reason_code}",
            f"reason: {self.reason}",
            f"request_id: {self.request_id or 'none (refused by the gateway before Verify)'}",
        ]
        if self.approval_id:
            lines += [
                f"approval_id: {self.approval_id}",
                "Once a human approves it, call the tool again with exactly the same arguments; "
                "the approval is valid for that one call only.",
            ]
        return "\n".join(lines)


Verdict = Allowed | Refused


class Gate:
    """Decides each call; holds the configuration's policies and the pending approvals."""

    def __init__(
        self,
        client: VerifyClient,
        agent_id: str,
        policies: Mapping[str, ToolPolicy],
        unrestricted: Iterable[str],
        pending: PendingApprovals | None = None,
    ) -> None:
        self._client = client
        self._agent_id = agent_id
        self._policies = dict(policies)
        self._unrestricted = frozenset(unrestricted)
        self._pending = pending or PendingApprovals()

    async def decide(self, tool: str, arguments: Mapping[str, Any]) -> Verdict:
        """Verify the call, fail closed; see the module docstring."""
        if tool in self._unrestricted:
            return Allowed(None)
        policy = self._policies.get(tool)
        if policy is None:
            return _refuse(tool, "TOOL_NOT_MAPPED", f"tool {tool!r} is not mapped to an action")
        try:
            question = question_for(policy, arguments)
        except ArgumentRejected as exc:
            return _refuse(tool, "ARGUMENT_REJECTED", str(exc))
        fingerprint = call_fingerprint(tool, arguments)
        approval_id = self._pending.get(fingerprint)
        if approval_id:
            waiting = await self._approval_state(tool, fingerprint, approval_id)
            if isinstance(waiting, Refused):
                return waiting
            approval_id = waiting
        return await self._verify(tool, question, fingerprint, approval_id)

    async def visible(self, tools: Iterable[str]) -> set[str]:
        """The tools worth listing: unrestricted ones, and mapped ones whose action a test-mode
        Verify does not refuse outright (no permission, unknown or disabled agent). Unmapped
        tools, and tools whose check fails, are hidden. Hiding is a courtesy to the model;
        every call is still verified."""
        names = list(tools)
        mapped = [name for name in names if name in self._policies]
        answers = await asyncio.gather(
            *(self._may_ever(self._policies[name]) for name in mapped), return_exceptions=True
        )
        shown = {name for name in names if name in self._unrestricted}
        shown.update(name for name, ok in zip(mapped, answers, strict=True) if ok is True)
        return shown

    async def _may_ever(self, policy: ToolPolicy) -> bool:
        resource = policy.resource.constant if policy.resource is not None else None
        decision = await self._client.check(self._agent_id, policy.action, resource=resource or "")
        if decision.reason_code in _HIDING_REASONS:
            return False
        return not (resource and decision.reason_code == "RESOURCE_NOT_ALLOWED")

    async def _approval_state(self, tool: str, fingerprint: str, approval_id: str) -> str | Refused:
        """The approval id to verify with ("" to ask afresh), or the refusal while it pends."""
        try:
            approval = await self._client.get_approval(approval_id)
        except NotFound:
            self._pending.forget(fingerprint, approval_id)
            return ""
        except BehalfError as exc:
            return _unavailable(tool, exc)
        if approval.state == "PENDING":
            reason = "the approval this call needs has not been decided yet"
            return _refuse(tool, "APPROVAL_PENDING", reason, approval_id=approval_id)
        if approval.state == "APPROVED":
            return approval_id
        self._pending.forget(fingerprint, approval_id)  # denied, expired or used: ask again
        return ""

    async def _verify(
        self, tool: str, question: Question, fingerprint: str, approval_id: str
    ) -> Verdict:
        try:
            decision = await self._client.verify(
                self._agent_id,
                question.action,
                resource=question.resource,
                amount=question.amount,
                context={"mcp_tool": tool[:256], "mcp_call_sha256": fingerprint},
                approval_id=approval_id,
            )
        except ApprovalRequired as exc:
            self._pending.remember(fingerprint, exc.approval_id)
            return _refuse(
                tool, exc.reason_code, exc.reason, exc.request_id, approval_id=exc.approval_id
            )
        except ActionDenied as exc:
            return _refuse(tool, exc.reason_code, exc.reason, exc.request_id)
        except InvalidRequest as exc:
            what = f"Verify refused the question ({exc.field or 'request'}): {exc}"
            return _refuse(tool, "INVALID_REQUEST", what)
        except AuthenticationError:
            return _refuse(tool, "AUTHENTICATION_FAILED", "the gateway's verify key was refused")
        except BehalfError as exc:
            return _unavailable(tool, exc)
        except Exception as exc:  # anything else: fail closed, never forward
            _log.exception("verify_failed", tool=tool)
            return _refuse(tool, "VERIFICATION_UNAVAILABLE", f"Verify failed: {type(exc).__name__}")
        if approval_id:
            self._pending.forget(fingerprint, approval_id)
        _log.info(
            "tool_call_allowed", tool=tool, request_id=decision.request_id, action=question.action
        )
        return Allowed(decision)


def _unavailable(tool: str, exc: BehalfError) -> Refused:
    code = "VERIFICATION_UNAVAILABLE" if isinstance(exc, VerificationUnavailable) else "ERROR"
    return _refuse(tool, code, f"no trustworthy answer from Behalf: {exc}")


def _refuse(
    tool: str, code: str, reason: str, request_id: str = "", *, approval_id: str = ""
) -> Refused:
    _log.warning(
        "tool_call_refused",
        tool=tool,
        reason_code=code,
        reason=reason,
        request_id=request_id,
        approval_id=approval_id,
    )
    return Refused(code, reason, request_id, approval_id)
