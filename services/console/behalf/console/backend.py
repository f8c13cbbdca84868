"""gRPC clients of the registry, dispatcher and verifier, with failures translated once.

Every call carries the signed-in person's key (or a test link's key) as `authorization:
Bearer …` metadata and a deadline. A failed call becomes a `BackendError` whose message is
safe to put on a page: the services' own messages for the codes that describe the request
(they name the field and never carry secrets), and fixed wording for everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
import structlog

from behalf import bad_request_field
from behalf.common.tls import ChannelTls, open_channel
from behalf.v1 import (
    common_pb2,
    dispatcher_pb2_grpc,
    registry_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)

_log = structlog.get_logger("console.backend")

# grpc_tools generates the *_pb2_grpc stubs without types: each is built through a typed
# constructor. The verifier's one method the console calls is typed in full.


class VerifierStub(Protocol):
    """`behalf.v1.VerifierService` on an asyncio channel."""

    Verify: grpc.aio.UnaryUnaryMultiCallable[
        verifier_pb2.VerifyRequest, verifier_pb2.VerifyResponse
    ]


_registry_stub: Callable[[grpc.aio.Channel], registry_pb2_grpc.RegistryServiceStub] = (
    registry_pb2_grpc.RegistryServiceStub
)
_dispatcher_stub: Callable[[grpc.aio.Channel], dispatcher_pb2_grpc.DispatcherServiceStub] = (
    dispatcher_pb2_grpc.DispatcherServiceStub
)
_verifier_stub: Callable[[grpc.aio.Channel], VerifierStub] = verifier_pb2_grpc.VerifierServiceStub
R = TypeVar("R")

_SHOW_DETAILS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.OUT_OF_RANGE,
}
_FIXED = {
    grpc.StatusCode.UNAUTHENTICATED: "The API key was not accepted (unknown or revoked).",
    grpc.StatusCode.PERMISSION_DENIED: "Your key's role may not do this.",
    grpc.StatusCode.UNAVAILABLE: "The service is unreachable right now; try again shortly.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "The service did not answer in time; try again.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "The service is busy; try again shortly.",
}


class BackendError(Exception):
    """A call failed; `str(error)` is safe to show, `code` is the gRPC status, `field` the
    request field at fault when the service named one (INVALID_ARGUMENT's BadRequest details)."""

    def __init__(self, message: str, code: grpc.StatusCode, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    @property
    def unauthenticated(self) -> bool:
        return self.code is grpc.StatusCode.UNAUTHENTICATED

    @property
    def not_found(self) -> bool:
        return self.code is grpc.StatusCode.NOT_FOUND


def translate(error: grpc.RpcError, service: str) -> BackendError:
    """The page-safe form of a failed call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    if code in _SHOW_DETAILS:
        details = (error.details() if hasattr(error, "details") else "") or code.name
        return BackendError(details[:500], code, bad_request_field(error))
    message = _FIXED.get(code, f"The {service} failed unexpectedly ({code.name}).")
    return BackendError(message, code)


class Backend:
    """One channel per service (TLS when `tls` is given), shared by every session; stubs per
    service."""

    def __init__(
        self,
        *,
        registry: str,
        dispatcher: str,
        verifier: str,
        timeout_seconds: float,
        tls: ChannelTls | None = None,
    ) -> None:
        self._targets = {"registry": registry, "dispatcher": dispatcher, "verifier": verifier}
        self._timeout = timeout_seconds
        self._tls = tls
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.registry: registry_pb2_grpc.RegistryServiceStub
        self.dispatcher: dispatcher_pb2_grpc.DispatcherServiceStub
        self.verifier: VerifierStub

    async def start(self) -> None:
        """Open the channels (lazily connecting) inside the running event loop."""
        for name, target in self._targets.items():
            self._channels[name] = open_channel(target, self._tls)
        self.registry = _registry_stub(self._channels["registry"])
        self.dispatcher = _dispatcher_stub(self._channels["dispatcher"])
        self.verifier = _verifier_stub(self._channels["verifier"])

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def call(self, method: Callable[..., Awaitable[R]], request: Any, api_key: str) -> R:
        """Call `method` (a stub attribute) with the key; BackendError on failure."""
        service = _service_of(method)
        try:
            return await method(
                request, metadata=(("authorization", f"Bearer {api_key}"),), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            error = translate(exc, service)
            _log.info("rpc_failed", service=service, code=error.code.name)
            raise error from None

    async def check(self, request: verifier_pb2.VerifyRequest, api_key: str) -> common_pb2.Decision:
        """A test-mode Verify, the console's only kind: `request` is sent with `test_mode` set,
        and an answer not marked as a test (a verifier that ignored it) is refused."""
        test = verifier_pb2.VerifyRequest()
        test.CopyFrom(request)
        test.test_mode = True
        answer = await self.call(self.verifier.Verify, test, api_key)
        if not answer.HasField("decision") or not answer.decision.test_mode:
            _log.warning("verify_not_in_test_mode")
            raise BackendError(
                "The verifier did not answer in test mode.", grpc.StatusCode.INTERNAL
            )
        return answer.decision


def _service_of(method: Callable[..., Any]) -> str:
    name = getattr(method, "_method", b"")
    text = name.decode() if isinstance(name, bytes) else str(name)
    for service in ("Registry", "Dispatcher", "Verifier"):
        if f"{service}Service" in text:
            return service.lower()
    return "service"
