"""The Verify hot path: authenticate, validate, decide from the snapshot, audit, reply.

Read top to bottom, `Verifier.verify` is ARCHITECTURE §4: steps 1-2 here, 3-10 in
`engine.decide`, 11 here. The snapshot is immutable and swapped in by the policy watcher, so a
decision reads one consistent revision without locks or I/O; only budget and approval steps
call the registry, and only the audit publish waits on Kafka.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
import structlog
from prometheus_client import Counter

from behalf.common.auth import bearer_token
from behalf.common.callers import Caller
from behalf.common.errors import Unauthenticated, Unavailable
from behalf.common.ids import new_id
from behalf.common.timestamps import set_timestamp
from behalf.v1 import common_pb2, events_pb2, verifier_pb2, verifier_pb2_grpc
from behalf.verifier.admission import UNKNOWN_KEYS_IN_FLIGHT, InFlightLimit
from behalf.verifier.audit import AuditUnavailable, DecisionPublisher
from behalf.verifier.credentials import require_key_scope, require_verify_role
from behalf.verifier.dry_run import DryRunSteps
from behalf.verifier.engine import (
    DecisionResult,
    Outcome,
    ReasonCode,
    Risk,
    VerifyInput,
    decide,
    deny_for_audit_failure,
)
from behalf.verifier.policy_watch import PolicyState, PolicyWatcher
from behalf.verifier.registry_steps import RegistrySteps
from behalf.verifier.validation import validate_verify

DECISIONS = Counter(
    "behalf_verifier_decisions_total", "Decisions by outcome and reason.", ["outcome", "reason"]
)
_log = structlog.get_logger("verify")

# The contract's value for each of the engine's, matched by name once, so a value the contract
# lacks fails at import rather than on a request.
_OUTCOMES: dict[Outcome, common_pb2.Outcome] = {
    o: getattr(common_pb2, f"OUTCOME_{o.name}") for o in Outcome
}
_REASON_CODES: dict[ReasonCode, common_pb2.ReasonCode] = {
    c: getattr(common_pb2, f"REASON_CODE_{c.name}") for c in ReasonCode
}
_RISKS: dict[Risk, common_pb2.Risk] = {r: getattr(common_pb2, f"RISK_{r.name}") for r in Risk}

_UNKNOWN_KEYS = ""
_TENANT_REFUSAL = "too many calls in flight for this tenant; retry after a backoff"
_UNKNOWN_KEYS_REFUSAL = "too many calls wait for a key this verifier does not know yet"
_REVISION_WAITS_REFUSAL = (
    "too many calls of this tenant wait for a min_revision this verifier has not reached"
)


@functools.cache
def _decisions(outcome: Outcome, reason: ReasonCode) -> Counter:
    """The counter child for one label set, looked up once (`labels()` takes a lock)."""
    return DECISIONS.labels(outcome.name, reason.name)


class DecisionSink(Protocol):
    """Where decisions are audited (Kafka in production); see `DecisionPublisher.publish`."""

    async def publish(
        self,
        event: events_pb2.DecisionEvent,
        *,
        on_withdrawn: Callable[[], None] | None = None,
    ) -> None: ...


class Verifier:
    """The decision pipeline shared by the Behalf Verify RPC and Envoy's ext_authz Check."""

    def __init__(
        self,
        watcher: PolicyWatcher,
        steps: RegistrySteps,
        audit: DecisionSink | DecisionPublisher,
        *,
        verifier_id: str,
        min_revision_wait_seconds: float,
        tenant_in_flight: int,
    ) -> None:
        self._watcher = watcher
        self._steps = steps
        self._dry_run = DryRunSteps(steps)
        self._audit = audit
        self._verifier_id = verifier_id
        self._min_revision_wait = min_revision_wait_seconds
        self._tenants = InFlightLimit("tenant", tenant_in_flight)
        self._revision_waits = InFlightLimit("tenant_revision_waits", tenant_in_flight)
        self._unknown_keys = InFlightLimit("unknown_keys", UNKNOWN_KEYS_IN_FLIGHT)
        self._background: set[asyncio.Task[None]] = set()

    async def verify(self, token: str, request: verifier_pb2.VerifyRequest) -> common_pb2.Decision:
        state = self._watcher.state
        if state is None:
            return self._unaudited_stale(request)
        # 1. Authenticate from the snapshot's credentials.
        try:
            caller = state.credentials.authenticate(token)
        except Unauthenticated:
            if request.min_revision <= state.snapshot.revision:
                raise
            # Perhaps a key created at a revision not here yet. Anyone can send a key we do not
            # know, so only a few such calls may wait for it at once.
            with self._unknown_keys.admitted(_UNKNOWN_KEYS, _UNKNOWN_KEYS_REFUSAL):
                caught_up = await self._catch_up(request)
            return await self._verify_caught_up(token, request, caught_up, state)
        if request.min_revision > state.snapshot.revision:
            # Waiting costs nothing but a slot: its own, so a flood of min_revisions no verifier
            # will reach (an agent can send 2^63-1) holds none of the slots decisions need.
            with self._revision_waits.admitted(caller.tenant_id, _REVISION_WAITS_REFUSAL):
                caught_up = await self._catch_up(request)
            return await self._verify_caught_up(token, request, caught_up, state)
        with self.in_flight(caller.tenant_id):
            return await self._decide(caller, request, state)

    def known_caller(self, token: str) -> Caller:
        """Whose key this is, by the policy this verifier holds: Unauthenticated for a key of
        no tenant, so a caller no tenant owns costs the registry nothing."""
        state = self._watcher.state
        if state is None:
            raise Unavailable("the verifier has no policy snapshot yet")
        return state.credentials.authenticate(token)

    async def known_caller_at(self, token: str, min_revision: int) -> Caller:
        """`known_caller`, having first waited (as Verify does: briefly, few calls at once) for
        a `min_revision` this verifier has not reached, so a key created at N is known at N."""
        try:
            return self.known_caller(token)
        except Unauthenticated:
            state = self._watcher.state
            if state is None or min_revision <= state.snapshot.revision:
                raise
        with self._unknown_keys.admitted(_UNKNOWN_KEYS, _UNKNOWN_KEYS_REFUSAL):
            await self._watcher.wait_for_revision(min_revision, self._min_revision_wait)
        return self.known_caller(token)

    def in_flight(self, tenant_id: str) -> AbstractContextManager[None]:
        """Hold one of the tenant's in-flight slots, or raise ResourceExhausted."""
        return self._tenants.admitted(tenant_id, _TENANT_REFUSAL)

    async def _catch_up(self, request: verifier_pb2.VerifyRequest) -> bool:
        """Wait (briefly) for the caller's min_revision; whether it arrived."""
        return await self._watcher.wait_for_revision(request.min_revision, self._min_revision_wait)

    async def _verify_caught_up(
        self,
        token: str,
        request: verifier_pb2.VerifyRequest,
        caught_up: bool,
        before: PolicyState,
    ) -> common_pb2.Decision:
        """3 first, for keys: a caller's min_revision may be a moment ahead of us. Having waited
        for it, authenticating again means a key created at revision N works, and a key revoked
        at N fails, for every request carrying min_revision >= N. A key we cannot know yet (its
        revision has not arrived) is stale policy, not a bad key."""
        state = self._watcher.state or before
        try:
            caller = state.credentials.authenticate(token)
        except Unauthenticated:
            if caught_up:
                raise
            return self._unaudited_stale(request, "the verifier has not reached min_revision")
        with self.in_flight(caller.tenant_id):
            return await self._decide(caller, request, state)

    async def _decide(
        self, caller: Caller, request: verifier_pb2.VerifyRequest, state: PolicyState
    ) -> common_pb2.Decision:
        # 2. Validate.
        require_verify_role(caller)
        require_key_scope(caller, agent_id=request.agent_id, test_mode=request.test_mode)
        checked = validate_verify(request, caller.tenant_id)
        # An agent in manual test mode gets test decisions only, whatever the request asks.
        test_mode = request.test_mode or state.snapshot.in_test_mode(
            caller.tenant_id, checked.agent_id
        )
        # 3-10. Decide; a test-mode request reads budgets but changes nothing.
        steps = self._dry_run if test_mode else self._steps
        now = datetime.now(UTC)
        result = await decide(checked, state.snapshot, now, self._watcher.freshness, steps)
        # 11. Audit before answering; an allow that cannot be audited becomes a deny.
        event = self._event(caller, checked, result, now, request, test_mode)
        withdrawn = None
        if result.budget_claim and not test_mode:
            # A caller that leaves before its allow is audited never gets it: give back its
            # claim (in the background, as this handler is being cancelled).
            permission_id, claim = result.permission_id, result.budget_claim

            def withdrawn() -> None:
                self._in_background(self._release_budget(checked, permission_id, claim))

        try:
            await self._audit.publish(event, on_withdrawn=withdrawn)
        except AuditUnavailable as failure:
            if result.outcome is Outcome.ALLOW:
                result = deny_for_audit_failure(result)
                # A commit that may yet land audits this allow: what it took stays taken.
                if result.budget_claim and not test_mode and not failure.maybe_committed:
                    await self._release_budget(checked, result.permission_id, result.budget_claim)
                event = self._event(caller, checked, result, now, request, test_mode)
        _decisions(result.outcome, result.reason_code).inc()
        return event.decision

    def _event(
        self,
        caller: Caller,
        checked: VerifyInput,
        result: DecisionResult,
        now: datetime,
        request: verifier_pb2.VerifyRequest,
        test_mode: bool,
    ) -> events_pb2.DecisionEvent:
        event = events_pb2.DecisionEvent(
            event_id=new_id("evt"),
            tenant_id=caller.tenant_id,
            decision=common_pb2.Decision(
                request_id=checked.request_id,
                outcome=_OUTCOMES[result.outcome],
                reason_code=_REASON_CODES[result.reason_code],
                reason=result.reason,
                risk=_RISKS[result.risk],
                permission_id=result.permission_id,
                policy_revision=result.policy_revision,
                approval_id=result.approval_id,
                verifier_id=self._verifier_id,
                test_mode=test_mode,
            ),
            agent_id=checked.agent_id,
            action=checked.action,
            resource=checked.resource,
            context=dict(request.context),
            test_mode=test_mode,
            key_id=caller.key_id,
        )
        set_timestamp(event.decision.decide_time, now)
        if checked.amount is not None:
            event.amount.amount_minor = checked.amount.amount_minor
            event.amount.currency = checked.amount.currency
        return event

    def _unaudited_stale(
        self,
        request: verifier_pb2.VerifyRequest,
        reason: str = "the verifier has no policy snapshot yet",
    ) -> common_pb2.Decision:
        """We cannot tell whose key this is (no snapshot, or not yet the caller's revision), so
        deny without an audit: there is no tenant to audit it for."""
        _decisions(Outcome.DENY, ReasonCode.STALE_POLICY).inc()
        _log.warning("denied_as_stale_before_authentication", reason=reason)
        decision = common_pb2.Decision(
            request_id=request.request_id or new_id("req"),
            outcome=common_pb2.OUTCOME_DENY,
            reason_code=common_pb2.REASON_CODE_STALE_POLICY,
            reason=reason,
            risk=common_pb2.RISK_LOW,
            verifier_id=self._verifier_id,
        )
        set_timestamp(decision.decide_time, datetime.now(UTC))
        return decision

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _release_budget(self, checked: VerifyInput, permission_id: str, claim: str) -> None:
        try:
            await self._steps.release_budget(checked, permission_id, claim)
        except Exception:
            # The reservation stays counted: fail closed (less budget, never more).
            _log.warning("budget_release_failed", permission_id=permission_id)


class VerifierApi(verifier_pb2_grpc.VerifierServiceServicer):
    """behalf.v1.VerifierService over the pipeline."""

    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier

    async def Verify(
        self,
        request: verifier_pb2.VerifyRequest,
        context: grpc.aio.ServicerContext[verifier_pb2.VerifyRequest, verifier_pb2.VerifyResponse],
    ) -> verifier_pb2.VerifyResponse:
        token = bearer_token(context.invocation_metadata())
        decision = await self._verifier.verify(token, request)
        return verifier_pb2.VerifyResponse(decision=decision)
