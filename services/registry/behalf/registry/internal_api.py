"""RegistryInternalService: what verifiers and dispatchers ask the registry, each with its own
service credential and only the RPCs its identity allows (`identities.py`). Budgets and
approvals are the rare stateful steps of a Verify, taken in each tenant's turn
(`behalf.common.tenant_turns`); the policy watch stream is delegated to the watch hub after
authentication. Every other call is one command, as in the public API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import structlog

from behalf.common.errors import InvalidArgument, Unavailable
from behalf.common.tenant_turns import TenantTurns
from behalf.registry import internal_validation as iv
from behalf.registry import validation as v
from behalf.registry.commands import approvals, budgets, webhooks
from behalf.registry.commands.transaction import Db
from behalf.registry.deps import InternalDeps
from behalf.registry.handlers import Req, Resp, metadata
from behalf.registry.identities import INTERNAL_SERVICE, method
from behalf.v1 import common_pb2, internal_pb2_grpc
from behalf.v1 import internal_pb2 as pb

__all__ = ["InternalDeps", "RegistryInternalApi"]

_log = structlog.get_logger("internal_api")


class RegistryInternalApi(internal_pb2_grpc.RegistryInternalServiceServicer):
    """The RegistryInternalService servicer."""

    def __init__(self, deps: InternalDeps | None = None) -> None:
        self._attached: tuple[InternalDeps, Db] | None = None
        self._turns = TenantTurns()
        if deps is not None:
            self.attach(deps)

    def attach(self, deps: InternalDeps) -> None:
        """Give the servicer its dependencies (the app registers first, connects later)."""
        self._attached = (deps, Db(deps.pool))

    @property
    def _deps(self) -> InternalDeps:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached[0]

    @property
    def _db(self) -> Db:
        if self._attached is None:
            raise Unavailable("the registry is starting")
        return self._attached[1]

    def _check(self, context: grpc.aio.ServicerContext[Req, Resp], rpc: str) -> None:
        """Only an identity allowed `rpc` gets past this line (the table in `identities.py`)."""
        self._deps.credentials.authorize(metadata(context), method(INTERNAL_SERVICE, rpc))

    async def WatchPolicy(
        self,
        request_iterator: AsyncIterator[pb.WatchPolicyRequest],
        context: grpc.aio.ServicerContext[pb.WatchPolicyRequest, pb.WatchPolicyResponse],
    ) -> AsyncIterator[pb.WatchPolicyResponse]:
        self._check(context, "WatchPolicy")
        async for response in self._deps.stream.serve(request_iterator, context):
            yield response

    async def ReserveBudget(
        self,
        request: pb.ReserveBudgetRequest,
        context: grpc.aio.ServicerContext[pb.ReserveBudgetRequest, pb.ReserveBudgetResponse],
    ) -> pb.ReserveBudgetResponse:
        self._check(context, "ReserveBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        amount = iv.required_money(request)
        facts = iv.facts(tenant_id, request, amount)
        async with self._turns.turn(tenant_id):
            claimed = await budgets.reserve(self._db, facts, amount)
        result = claimed.reservation
        return pb.ReserveBudgetResponse(
            reserved=result.reserved,
            remaining=common_pb2.Money(
                amount_minor=result.remaining_minor, currency=result.currency
            ),
            claim=claimed.claim,
        )

    async def CheckBudget(
        self,
        request: pb.CheckBudgetRequest,
        context: grpc.aio.ServicerContext[pb.CheckBudgetRequest, pb.CheckBudgetResponse],
    ) -> pb.CheckBudgetResponse:
        """Would the amount fit now? Reads only: test-mode decisions spend nothing."""
        self._check(context, "CheckBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        amount = iv.required_money(request)
        async with self._turns.turn(tenant_id):
            fit = await budgets.check(self._db, tenant_id, permission_id, amount)
        return pb.CheckBudgetResponse(
            fits=fit.fits,
            remaining=common_pb2.Money(amount_minor=fit.remaining_minor, currency=amount.currency),
        )

    async def ReleaseBudget(
        self,
        request: pb.ReleaseBudgetRequest,
        context: grpc.aio.ServicerContext[pb.ReleaseBudgetRequest, pb.ReleaseBudgetResponse],
    ) -> pb.ReleaseBudgetResponse:
        self._check(context, "ReleaseBudget")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        permission_id = v.require_id(request.permission_id, "prm", "permission_id")
        request_id = iv.request_id(request.request_id)
        handed = iv.budget_claim(request.claim)
        async with self._turns.turn(tenant_id):
            released = await budgets.release(self._db, tenant_id, permission_id, request_id, handed)
        return pb.ReleaseBudgetResponse(released=released)

    async def CreateApproval(
        self,
        request: pb.CreateApprovalRequest,
        context: grpc.aio.ServicerContext[pb.CreateApprovalRequest, pb.CreateApprovalResponse],
    ) -> pb.CreateApprovalResponse:
        """A pending approval for exactly this request; the same request id returns it again."""
        self._check(context, "CreateApproval")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        facts = iv.facts(tenant_id, request, v.optional_money(request, "amount"))
        async with self._turns.turn(tenant_id):
            approval = await approvals.request_approval(self._db, facts, self._deps.approval_window)
        return pb.CreateApprovalResponse(approval=approval)

    async def ConsumeApproval(
        self,
        request: pb.ConsumeApprovalRequest,
        context: grpc.aio.ServicerContext[pb.ConsumeApprovalRequest, pb.ConsumeApprovalResponse],
    ) -> pb.ConsumeApprovalResponse:
        self._check(context, "ConsumeApproval")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        approval_id = v.require_id(request.approval_id, "apr", "approval_id")
        facts = iv.facts(tenant_id, request, v.optional_money(request, "amount"))
        async with self._turns.turn(tenant_id):
            consumed, approval = await approvals.consume_approval(self._db, approval_id, facts)
        return pb.ConsumeApprovalResponse(consumed=consumed, state=approval.state)

    async def ListWebhookTargets(
        self,
        request: pb.ListWebhookTargetsRequest,
        context: grpc.aio.ServicerContext[
            pb.ListWebhookTargetsRequest, pb.ListWebhookTargetsResponse
        ],
    ) -> pb.ListWebhookTargetsResponse:
        self._check(context, "ListWebhookTargets")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        targets = await webhooks.targets(self._db, self._deps.webhook_box, tenant_id)
        return pb.ListWebhookTargetsResponse(targets=targets)

    async def AuthenticateApiKey(
        self,
        request: pb.AuthenticateApiKeyRequest,
        context: grpc.aio.ServicerContext[
            pb.AuthenticateApiKeyRequest, pb.AuthenticateApiKeyResponse
        ],
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
        self,
        request: pb.SuspendWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[
            pb.SuspendWebhookEndpointRequest, pb.SuspendWebhookEndpointResponse
        ],
    ) -> pb.SuspendWebhookEndpointResponse:
        """The dispatcher found the endpoint gone (HTTP 410): disable it, as an admin would."""
        self._check(context, "SuspendWebhookEndpoint")
        tenant_id = v.require_id(request.tenant_id, "ten", "tenant_id")
        endpoint_id = v.require_id(request.endpoint_id, "whe", "endpoint_id")
        state = await webhooks.set_endpoint_disabled(
            self._db, tenant_id, endpoint_id, disabled=True
        )
        if not state.changed:
            return pb.SuspendWebhookEndpointResponse(endpoint=state.endpoint)
        _log.info("endpoint_suspended", endpoint_id=endpoint_id, reason=request.reason[:200])
        return pb.SuspendWebhookEndpointResponse(endpoint=state.endpoint, revision=state.revision)

    async def ReportWebhookHealth(
        self,
        request: pb.ReportWebhookHealthRequest,
        context: grpc.aio.ServicerContext[
            pb.ReportWebhookHealthRequest, pb.ReportWebhookHealthResponse
        ],
    ) -> pb.ReportWebhookHealthResponse:
        """A dispatcher's latest counts per endpoint, shown by ListWebhookEndpoints."""
        self._check(context, "ReportWebhookHealth")
        dispatcher_id, reports = iv.health_reports(request)
        accepted = await webhooks.record_health(self._db, dispatcher_id, reports)
        return pb.ReportWebhookHealthResponse(accepted=accepted)
