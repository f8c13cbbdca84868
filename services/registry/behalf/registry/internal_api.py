"""RegistryInternalService: what verifiers and dispatchers ask the registry, each with its own
service credential and only the RPCs its identity allows (`identities.py`). Budgets and
approvals are the rare stateful steps of a Verify; the policy watch stream is delegated to the
watch hub after authentication.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import grpc
import structlog

from behalf.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unavailable
from behalf.common.ids import new_id
from behalf.common.resource_names import InvalidResourceName, normalize_resource
from behalf.registry import validation as v
from behalf.registry.api_support import Unchanged, not_found
from behalf.registry.api_webhooks import secret_aad
from behalf.registry.changes import current_revision, next_revision, write_event
from behalf.registry.identities import INTERNAL_SERVICE, ServiceCredentials, method
from behalf.registry.keys import Authenticator
from behalf.registry.secret_box import SecretBox
from behalf.registry.store import approvals, budgets, permissions, request_ids, webhooks
from behalf.registry.store.request_ids import RequestFacts, RequestIdReused
from behalf.v1 import common_pb2, internal_pb2, internal_pb2_grpc
from behalf.v1 import internal_pb2 as pb

DEFAULT_APPROVAL_WINDOW = timedelta(minutes=15)
MAX_REQUEST_ID = 128
_log = structlog.get_logger("internal_api")


class PolicyStream(Protocol):
    """The watch hub's stream (behalf.registry.watch.WatchHub.serve)."""

    def serve(
        self,
        request_iterator: AsyncIterator[internal_pb2.WatchPolicyRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]: ...


@dataclass(frozen=True)
class InternalDeps:
    """What the internal API needs."""

    pool: asyncpg.Pool
    credentials: ServiceCredentials
    webhook_box: SecretBox
    stream: PolicyStream
    authenticator: Authenticator
    approval_window: timedelta = DEFAULT_APPROVAL_WINDOW


def _request_id(value: str, field: str = "request_id") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_REQUEST_ID or any(ord(ch) < 0x21 for ch in value):
        raise InvalidArgument(field, f"must be 1..{MAX_REQUEST_ID} printable characters")
    return value


def _action(value: str) -> str:
    actions = v.actions([value], "action")
    if not actions:
        raise InvalidArgument("action", "is required")
    return actions[0]


def _resource(value: str) -> str:
    """The verifier sends normalized resources; anything else is refused, not normalized here."""
    try:
        normalized = normalize_resource(value)
    except InvalidResourceName as exc:
        raise InvalidArgument("resource", str(exc)) from None
    if normalized != value:
        raise InvalidArgument("resource", "must be a normalized resource")
    return value


def _facts(
    tenant_id: str,
    request: pb.ReserveBudgetRequest | pb.CreateApprovalRequest | pb.ConsumeApprovalRequest,
    amount: v.MoneyValue | None,
) -> RequestFacts:
    """What the Verify behind a stateful step asked for, validated."""
    return RequestFacts(
        tenant_id=tenant_id,
        agent_id=v.require_id(request.agent_id, "agt", "agent_id"),
        action=_action(request.action),
        resource=_resource(request.resource),
        amount_minor=amount.amount_minor if amount else None,
        amount_currency=amount.currency if amount else None,
        permission_id=v.require_id(request.permission_id, "prm", "permission_id"),
        request_id=_request_id(request.request_id),
    )


async def _claim(conn: asyncpg.Connection, facts: RequestFacts) -> None:
    """Bind the request id to this request, or refuse: an id names exactly one request."""
    try:
        await request_ids.claim(conn, facts)
    except RequestIdReused:
        _log.warning("request_id_reused", tenant_id=facts.tenant_id, agent_id=facts.agent_id)
        raise AlreadyExists(
            "request_id was already used for a different request; a request id names one request"
        ) from None


def _required_money(request: pb.ReserveBudgetRequest | pb.CheckBudgetRequest) -> v.MoneyValue:
    if not request.HasField("amount"):
        raise InvalidArgument("amount", "is required")
    return v.money(request.amount, "amount")


async def _budget_state(
    conn: asyncpg.Connection, tenant_id: str, permission_id: str, amount: v.MoneyValue
) -> budgets.BudgetState:
    """The permission's budget, which must exist and be in the amount's currency."""
    state = await budgets.state(conn, tenant_id, permission_id)
    if state is None:
        raise not_found("permission", permission_id)
    if state.budget_minor is None:
        raise FailedPrecondition(f"permission {permission_id} has no budget")
    if state.currency != amount.currency:
        raise FailedPrecondition(f"permission {permission_id} budget is in {state.currency}")
    return state


class RegistryInternalApi(internal_pb2_grpc.RegistryInternalServiceServicer):
    """The RegistryInternalService servicer."""

    def __init__(self, deps: InternalDeps | None = None) -> None:
        self._attached = deps

    def attach(self, deps: InternalDeps) -> None:
        """Give the servicer its dependencies (the app registers first, connects later)."""
        self._attached = deps

    @property
    def _deps(self) -> InternalDeps:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._deps.pool

    def _check(self, context: grpc.aio.ServicerContext, rpc: str) -> None:
        """Only an identity allowed `rpc` gets past this line (the table in `identities.py`)."""
        metadata = context.invocation_metadata()
        self._deps.credentials.authorize(metadata, method(INTERNAL_SERVICE, rpc))

    async def WatchPolicy(
        self,
        request_iterator: AsyncIterator[internal_pb2.WatchPolicyRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[internal_pb2.WatchPolicyResponse]:
        self._check(context, "WatchPolicy")
        async for response in self._deps.stream.serve(request_iterator, context):
            yield response

    async def ReserveBudget(
        self, request: pb.ReserveBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveBudgetResponse:
        self._check(context, "ReserveBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        amount = _required_money(request)
        facts = _facts(tenant_id, request, amount)
        async with self._pool.acquire() as conn:
            await _budget_state(conn, facts.tenant_id, facts.permission_id, amount)
            await _claim(conn, facts)
            result = await budgets.reserve(
                conn,
                tenant_id=tenant_id,
                permission_id=facts.permission_id,
                request_id=facts.request_id,
                amount_minor=amount.amount_minor,
                currency=amount.currency,
            )
        return pb.ReserveBudgetResponse(
            reserved=result.reserved,
            remaining=common_pb2.Money(
                amount_minor=result.remaining_minor, currency=result.currency
            ),
        )

    async def CheckBudget(
        self, request: pb.CheckBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckBudgetResponse:
        """Would the amount fit now? Reads only: test-mode decisions spend nothing."""
        self._check(context, "CheckBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        amount = _required_money(request)
        async with self._pool.acquire() as conn:
            state = await _budget_state(conn, tenant_id, permission_id, amount)
        left = (state.budget_minor or 0) - state.spent_minor
        return pb.CheckBudgetResponse(
            fits=not state.revoked and amount.amount_minor <= left,
            remaining=common_pb2.Money(amount_minor=left, currency=amount.currency),
        )

    async def ReleaseBudget(
        self, request: pb.ReleaseBudgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseBudgetResponse:
        self._check(context, "ReleaseBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        request_id = _request_id(request.request_id)
        async with self._pool.acquire() as conn:
            released = await budgets.release(
                conn, tenant_id=tenant_id, permission_id=permission_id, request_id=request_id
            )
        return pb.ReleaseBudgetResponse(released=released)

    async def CreateApproval(
        self, request: pb.CreateApprovalRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateApprovalResponse:
        """A pending approval for exactly this request; the same request id returns it again.

        An approval is not policy: it takes no policy revision (so one tenant's flood of
        approvals never queues behind, or in front of, another tenant's mutations) and sends
        verifiers nothing. Its `approval.requested` event is stamped with the current revision
        and reaches webhooks through the outbox like every other event.
        """
        self._check(context, "CreateApproval")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        facts = _facts(tenant_id, request, v.optional_money(request, "amount"))
        expires_at = datetime.now(UTC) + self._deps.approval_window
        async with self._pool.acquire() as conn:
            permission = await permissions.get(conn, tenant_id, facts.permission_id)
            if permission is None or permission.agent_id != facts.agent_id:
                raise not_found("permission", facts.permission_id)
            await _claim(conn, facts)
            async with conn.transaction():
                approval, created = await approvals.insert_if_new(
                    conn, approval_id=new_id("apr"), request=facts, expires_at=expires_at
                )
                if created:
                    await write_event(
                        conn,
                        tenant_id=tenant_id,
                        event_type="approval.requested",
                        revision=await current_revision(conn),
                        subject=approval,
                    )
        return pb.CreateApprovalResponse(approval=approval)

    async def ConsumeApproval(
        self, request: pb.ConsumeApprovalRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsumeApprovalResponse:
        self._check(context, "ConsumeApproval")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        facts = _facts(tenant_id, request, v.optional_money(request, "amount"))
        async with self._pool.acquire() as conn:
            approval = await approvals.get(conn, tenant_id, approval_id)
            if approval is None:
                raise not_found("approval", approval_id)
            await _claim(conn, facts)
            consumed = await approvals.consume(conn, approval_id=approval_id, request=facts)
            if consumed:
                approval = await approvals.get(conn, tenant_id, approval_id) or approval
        return pb.ConsumeApprovalResponse(consumed=consumed, state=approval.state)

    async def ListWebhookTargets(
        self, request: pb.ListWebhookTargetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhookTargetsResponse:
        self._check(context, "ListWebhookTargets")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        box = self._deps.webhook_box
        targets = await webhooks.targets(self._pool, tenant_id)
        return pb.ListWebhookTargetsResponse(
            targets=[
                pb.WebhookTarget(
                    endpoint=t.endpoint,
                    signing_secrets=[
                        box.decrypt(c, secret_aad(t.endpoint.endpoint_id)).decode()
                        for c in t.secret_ciphertexts
                    ],
                )
                for t in targets
            ]
        )

    async def AuthenticateApiKey(
        self, request: pb.AuthenticateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.AuthenticateApiKeyResponse:
        self._check(context, "AuthenticateApiKey")
        if not request.api_key:
            raise InvalidArgument("api_key", "is required")
        caller = await self._deps.authenticator.authenticate(
            [("authorization", f"Bearer {request.api_key}")]
        )
        return pb.AuthenticateApiKeyResponse(
            key_id=caller.key_id, tenant_id=caller.tenant_id, role=caller.role.to_proto()
        )

    async def SuspendWebhookEndpoint(
        self, request: pb.SuspendWebhookEndpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendWebhookEndpointResponse:
        """The dispatcher found the endpoint gone (HTTP 410): disable it, as an admin would."""
        self._check(context, "SuspendWebhookEndpoint")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                revision = await next_revision(conn)
                found = await webhooks.set_disabled(conn, tenant_id, endpoint_id, disabled=True)
                if found is None:
                    raise not_found("webhook endpoint", endpoint_id)
                endpoint, changed = found
                if not changed:
                    raise Unchanged(endpoint)
                await write_event(
                    conn,
                    tenant_id=tenant_id,
                    event_type="webhook.endpoint_disabled",
                    revision=revision,
                    subject=endpoint,
                )
        except Unchanged as exc:
            return pb.SuspendWebhookEndpointResponse(endpoint=exc.result)
        _log.info("endpoint_suspended", endpoint_id=endpoint_id, reason=request.reason[:200])
        return pb.SuspendWebhookEndpointResponse(endpoint=endpoint, revision=revision)
