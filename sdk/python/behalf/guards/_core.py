"""The framework-neutral core of the tool guards: one tool call verified as `behalf.guard`
verifies (a fresh request id, the decision checked), and anything but ALLOW turned into a
`Refusal` whose text the model reads.

A `ToolGuard` reads the call's named arguments as `behalf.guards._mapping` says: an argument the
mapping neither checks nor lists as unchecked refuses the call (ARGUMENT_REJECTED) before
anything else; the rest become the Verify question. The tool's body runs only after an
explicit allow. Whatever stops it first (a rejected argument, a deny, a REQUIRE_APPROVAL, a
test-mode decision, an unavailable verifier, an invalid request, a mapping callable that fails)
becomes a `Refusal`; an exception from the body itself propagates unchanged, for the framework
to handle as it handles any tool error.

Approvals, as the MCP gateway does them: after REQUIRE_APPROVAL the guard remembers the
approval id for exactly those arguments (in memory, for up to 1,024 calls). The next identical
call first reads the approval: pending, it is refused (APPROVAL_PENDING) without a Verify;
approved, it is verified with the approval id (the verifier binds the approval to that exact
request and consumes it); denied, expired, used or unknown, the guard forgets it and verifies
afresh. A guard given its own `approval_id` option remembers nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol, TypeVar, runtime_checkable

from behalf._exceptions import (
    ActionDenied,
    ApprovalRequired,
    AuthenticationError,
    BehalfError,
    InvalidRequest,
    NotFound,
    TestModeDecision,
    VerificationUnavailable,
)
from behalf._guard import AsyncVerifier, BlockingVerifier, averified, verified
from behalf._models import Decision
from behalf._money import Units
from behalf.guards._mapping import ArgumentRejected, ToolMapping

__all__ = ["Refusal", "ToolGuard"]

T = TypeVar("T")

# What a refusal that carries no decision says in `reason_code` (a decision's own code otherwise).
UNAVAILABLE = "VERIFICATION_UNAVAILABLE"
INVALID_REQUEST = "INVALID_REQUEST"
UNMAPPED = "ARGUMENTS_UNMAPPED"
ARGUMENT_REJECTED = "ARGUMENT_REJECTED"  # the MCP gateway's code for the same refusal
AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
CLIENT_ERROR = "BEHALF_ERROR"
PENDING = "APPROVAL_PENDING"
MAX_PENDING = 1024
_AGAIN = (
    "Once a human approves {}, make exactly the same call again; it is valid for that call once."
)
_MAX_DETAIL = 200


@dataclass(frozen=True)
class Refusal:
    """Why a guarded tool did not run. `outcome` is "DENY", "REQUIRE_APPROVAL", "TEST_MODE"
    (a test-mode decision, which authorizes nothing) or "ERROR" (no decision: an argument was
    rejected (`argument` names it), the verifier was unavailable, the request invalid, or the
    arguments could not be mapped)."""

    outcome: str
    reason_code: str
    reason: str
    request_id: str = ""
    approval_id: str = ""
    note: str = ""
    argument: str = ""  # the argument an ARGUMENT_REJECTED refusal names

    @property
    def message(self) -> str:
        """The text the model gets back instead of the tool's result."""
        lines = [
            "Behalf did not allow this tool call, so the tool did not run.",
            f"outcome: {self.outcome}",
            f"reason_code: {self.reason_code}",
            f"reason: {self.reason}",
        ]
        if self.request_id:
            lines.append(f"request_id: {self.request_id}")
        if self.approval_id:
            lines.append(f"approval_id: {self.approval_id}")
        if self.argument:
            lines.append(f"argument: {self.argument}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    @classmethod
    def from_decision(cls, decision: Decision, outcome: str = "", note: str = "") -> Refusal:
        """The refusal of a decision that was not an explicit allow."""
        return cls(
            outcome=outcome or decision.outcome,
            reason_code=decision.reason_code,
            reason=decision.reason,
            request_id=decision.request_id,
            approval_id=decision.approval_id,
            note=note,
        )


class ToolGuard:
    """Verifies one tool's calls; see the module docstring. `options` are the question's fields
    (resource, amount, currency, context, min_revision, approval_id: each a value or a callable
    that receives the tool's arguments as keywords) and `timeout`; `unchecked_arguments`,
    `times` and `units` are read as `behalf.guards._mapping` says."""

    def __init__(
        self,
        client: AsyncVerifier | BlockingVerifier,
        *,
        agent_id: str | Callable[..., str],
        action: str | Callable[..., str],
        unchecked_arguments: Iterable[str] = (),
        times: str | None = None,
        units: Units = "major",
        timeout: float | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(client, AsyncVerifier | BlockingVerifier):
            raise TypeError(f"a tool guard needs an AsyncBehalf or Behalf client, not {client!r}")
        self._client = client
        self._remember = "approval_id" not in options
        self._pending: dict[str, str] = {}
        self._mapping = ToolMapping(
            {"agent_id": agent_id, "action": action, **options},
            unchecked_arguments=unchecked_arguments,
            times=times,
            units=units,
        )
        self._timeout = timeout

    async def arun(
        self, arguments: Mapping[str, Any], body: Callable[[], Awaitable[T]]
    ) -> T | Refusal:
        """`await body()` if Verify allows the call with these arguments; the refusal if not."""
        key = _call_key(arguments)
        try:
            self._mapping.check(arguments)
        except ArgumentRejected as exc:
            return _refusal(exc)
        if key in self._pending:
            waiting = self._settle(key, await self._astate(self._pending[key]))
            if waiting is not None:
                return waiting
        try:
            await averified(self._client, **self._question(key, arguments))
        except Exception as exc:
            return self._record(key, _refusal(exc))
        self._pending.pop(key, None)
        return await body()

    def run(self, arguments: Mapping[str, Any], body: Callable[[], T]) -> T | Refusal:
        """`body()` if Verify allows the call with these arguments; the refusal if not. Needs
        the blocking `Behalf` client (a `TypeError` before anything runs otherwise)."""
        client = self._client
        if not isinstance(client, BlockingVerifier):
            raise TypeError("a sync tool call needs the blocking Behalf client, not AsyncBehalf")
        key = _call_key(arguments)
        try:
            self._mapping.check(arguments)
        except ArgumentRejected as exc:
            return _refusal(exc)
        if key in self._pending:
            waiting = self._settle(key, self._state(self._pending[key]))
            if waiting is not None:
                return waiting
        try:
            verified(client, **self._question(key, arguments))
        except Exception as exc:
            return self._record(key, _refusal(exc))
        self._pending.pop(key, None)
        return body()

    def _question(self, key: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        question = self._mapping.question(arguments)
        if self._remember:
            question["approval_id"] = self._pending.get(key, "")
        question["timeout"] = self._timeout
        return question

    def _record(self, key: str, refusal: Refusal) -> Refusal:
        if self._remember and refusal.outcome == "REQUIRE_APPROVAL" and refusal.approval_id:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))  # the oldest
            self._pending[key] = refusal.approval_id
            return replace(refusal, note=_AGAIN.format(refusal.approval_id))
        return refusal

    def _settle(self, key: str, state: str | None) -> Refusal | None:
        """The refusal while the remembered approval pends or cannot be read; None to verify
        (with the approval id if it is approved, afresh once it is forgotten)."""
        approval_id = self._pending[key]
        if state is None:
            reason = f"the approval {approval_id} could not be read; nothing was verified"
            return Refusal("ERROR", UNAVAILABLE, reason, approval_id=approval_id)
        if state == "PENDING":
            reason = "the approval this call needs has not been decided yet"
            note = _AGAIN.format(approval_id)
            return Refusal("REQUIRE_APPROVAL", PENDING, reason, "", approval_id, note)
        if state != "APPROVED":  # denied, expired, used or unknown: ask afresh
            del self._pending[key]
        return None

    async def _astate(self, approval_id: str) -> str | None:
        """The approval's state, or None without an answer (the id is kept: nothing runs)."""
        client = self._client
        try:
            if isinstance(client, BlockingVerifier) and isinstance(client, _ReadsApprovals):
                approval = await asyncio.to_thread(client.get_approval, approval_id)
            elif isinstance(client, _ReadsApprovals):
                approval = await client.get_approval(approval_id)
            else:
                return None
            return str(approval.state)
        except NotFound:
            return "NOT_FOUND"
        except Exception:
            return None

    def _state(self, approval_id: str) -> str | None:
        """Blocking `_astate`."""
        if not isinstance(self._client, _ReadsApprovals):
            return None
        try:
            return str(self._client.get_approval(approval_id).state)
        except NotFound:
            return "NOT_FOUND"
        except Exception:
            return None


@runtime_checkable
class _ReadsApprovals(Protocol):
    """A client that reads approvals: `AsyncBehalf` (awaitable) and `Behalf` (blocking)."""

    def get_approval(self, approval_id: str) -> Any: ...


def _call_key(arguments: Mapping[str, Any]) -> str:
    """What makes two calls of one tool "the same call": their arguments, every value tagged
    with its type, so no two different calls share a key (a Decimal 1.5 is neither the string
    "Decimal('1.5')" nor the float 1.5); a value with no exact form makes the call unique."""
    return json.dumps(_typed(dict(arguments)))


def _typed(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return [type(value).__name__, value]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, Decimal):
        return ["Decimal", str(value)]
    if isinstance(value, Mapping):
        return ["dict", sorted([str(k), _typed(v)] for k, v in value.items())]
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_typed(v) for v in value]]
    if hasattr(value, "model_dump"):  # a pydantic model (LangChain tool inputs)
        return [type(value).__qualname__, _typed(value.model_dump(mode="python"))]
    return ["unique", secrets.token_hex(16)]  # never equal to another call's


def _refusal(exc: Exception) -> Refusal:
    """The refusal for what stopped the call before its body ran."""
    if isinstance(exc, ArgumentRejected):
        return Refusal("ERROR", ARGUMENT_REJECTED, _detail(exc), argument=exc.argument)
    if isinstance(exc, TestModeDecision):
        return Refusal.from_decision(exc.decision, "TEST_MODE")
    if isinstance(exc, ActionDenied | ApprovalRequired):
        return Refusal.from_decision(exc.decision)
    if isinstance(exc, VerificationUnavailable):
        return Refusal("ERROR", UNAVAILABLE, "Behalf could not be reached; nothing was verified")
    if isinstance(exc, InvalidRequest):
        field = f" (field {exc.field})" if exc.field else ""
        return Refusal("ERROR", INVALID_REQUEST, f"{_detail(exc)}{field}")
    if isinstance(exc, AuthenticationError):
        return Refusal("ERROR", AUTHENTICATION_FAILED, "Behalf refused the verify key")
    if isinstance(exc, BehalfError):
        return Refusal("ERROR", CLIENT_ERROR, type(exc).__name__)
    return Refusal(
        "ERROR",
        UNMAPPED,
        f"the tool's arguments could not be mapped to a Behalf request: {_detail(exc)}",
    )


def _detail(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, BehalfError) else str(exc)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
