"""The decision's stateful steps (budget, approvals), done synchronously at the registry."""

from __future__ import annotations

from typing import Any

import grpc

from behalf.v1 import common_pb2, internal_pb2, internal_pb2_grpc
from behalf.verifier.engine import RegistryUnavailable, RequestIdReused, VerifyInput
from behalf.verifier.snapshot import Money

_REFUSALS = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)


def _money(amount: Money | None) -> common_pb2.Money | None:
    if amount is None:
        return None
    return common_pb2.Money(amount_minor=amount.amount_minor, currency=amount.currency)


class RegistrySteps:
    """`StatefulSteps` over the registry's internal RPCs, each with a short deadline."""

    def __init__(self, channel: grpc.aio.Channel, *, service_token: str, timeout: float) -> None:
        # protoc's _pb2_grpc modules carry no annotations.
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._timeout = timeout

    async def reserve_budget(
        self, request: VerifyInput, permission_id: str, amount: Money
    ) -> str | None:
        reply = await self._call(
            self._stub.ReserveBudget,
            internal_pb2.ReserveBudgetRequest(
                tenant_id=request.tenant_id,
                permission_id=permission_id,
                amount=_money(amount),
                request_id=request.request_id,
                agent_id=request.agent_id,
                action=request.action,
                resource=request.resource,
            ),
        )
        if reply is None or not reply.reserved:
            return None
        # "" when this call holds no claim of its own (a replay past the registry's cap).
        return str(reply.claim)

    async def check_budget(self, request: VerifyInput, permission_id: str, amount: Money) -> bool:
        """Whether `amount` would fit in the budget now; nothing is reserved."""
        reply = await self._call(
            self._stub.CheckBudget,
            internal_pb2.CheckBudgetRequest(
                tenant_id=request.tenant_id, permission_id=permission_id, amount=_money(amount)
            ),
        )
        return reply is not None and bool(reply.fits)

    async def release_budget(self, request: VerifyInput, permission_id: str, claim: str) -> None:
        await self._call(
            self._stub.ReleaseBudget,
            internal_pb2.ReleaseBudgetRequest(
                tenant_id=request.tenant_id,
                permission_id=permission_id,
                request_id=request.request_id,
                claim=claim,
            ),
        )

    async def create_approval(self, request: VerifyInput, permission_id: str) -> str:
        reply = await self._call(
            self._stub.CreateApproval,
            internal_pb2.CreateApprovalRequest(
                tenant_id=request.tenant_id,
                agent_id=request.agent_id,
                action=request.action,
                resource=request.resource,
                amount=_money(request.amount),
                permission_id=permission_id,
                request_id=request.request_id,
            ),
        )
        if reply is None:
            raise RegistryUnavailable("the registry refused to create the approval")
        return str(reply.approval.approval_id)

    async def consume_approval(
        self, request: VerifyInput, permission_id: str, approval_id: str
    ) -> bool:
        reply = await self._call(
            self._stub.ConsumeApproval,
            internal_pb2.ConsumeApprovalRequest(
                tenant_id=request.tenant_id,
                approval_id=approval_id,
                agent_id=request.agent_id,
                action=request.action,
                resource=request.resource,
                amount=_money(request.amount),
                request_id=request.request_id,
                permission_id=permission_id,
            ),
        )
        return reply is not None and bool(reply.consumed)

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Any, Any], message: object
    ) -> Any:
        """The reply; None when the registry answered that the request cannot succeed (the
        permission or approval is gone or in the wrong state); RequestIdReused when the request
        id names another request; RegistryUnavailable otherwise."""
        try:
            return await method(message, metadata=self._metadata, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.ALREADY_EXISTS:
                raise RequestIdReused(exc.details() or "") from exc
            if exc.code() in _REFUSALS:
                return None
            raise RegistryUnavailable(exc.code().name) from exc
