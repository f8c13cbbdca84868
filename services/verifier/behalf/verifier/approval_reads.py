"""Reading one approval for an HTTP client, from the registry's public API with the caller's
own key: the registry decides who may read it (its verify, admin and audit-read roles, in the
key's tenant), exactly as when the client asks it over gRPC."""

from __future__ import annotations

import grpc

from behalf.common.errors import (
    BehalfError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from behalf.v1 import registry_pb2, registry_pb2_grpc, resources_pb2

_FROM_STATUS: dict[grpc.StatusCode, type[BehalfError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
}


class ApprovalReads:
    """GetApproval on the registry's public listener."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._registry = registry_pb2_grpc.RegistryServiceStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout

    async def get(self, token: str, approval_id: str) -> resources_pb2.Approval:
        """The approval, or the registry's refusal as a BehalfError (Unavailable when it
        cannot be asked)."""
        try:
            reply: registry_pb2.GetApprovalResponse = await self._registry.GetApproval(
                registry_pb2.GetApprovalRequest(approval_id=approval_id),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument("approvalId", "is not a well-formed approval id") from None
            error = _FROM_STATUS.get(code, Unavailable)
            message = exc.details() if error is not Unavailable else "the registry did not answer"
            raise error(message or code.name.lower()) from None
        return reply.approval
