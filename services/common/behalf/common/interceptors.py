"""One server interceptor for every RPC: request id, access log, metrics, error mapping."""

from __future__ import annotations

import functools
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import structlog
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from behalf.common.errors import BehalfError, InvalidArgument

RPC_SECONDS = Histogram(
    "behalf_rpc_seconds",
    "Server-side RPC latency.",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_ERRORS = Counter("behalf_rpc_errors_total", "RPCs that ended non-OK.", ["service", "code"])

_log = structlog.get_logger("rpc")
# A call without its caller's x-request-id gets this process's prefix and a sequence number:
# unique enough to follow one RPC through the logs, and no UUID object or OS randomness per call.
_REQUEST_ID_PREFIX = f"rpc{secrets.token_hex(4)}-"
_request_numbers = itertools.count(1)
_INTERNAL_MESSAGE = "internal error"
_UNAVAILABLE_MESSAGE = "a dependency is unavailable; retry"
# Lost connections to a dependency: the call may be retried, so UNAVAILABLE, not INTERNAL.
_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def _request_id(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):x}"


def _status_details(exc: BehalfError) -> tuple[tuple[str, bytes], ...]:
    """Rich error details for `exc`: an InvalidArgument carries its field as data, a
    google.rpc.BadRequest in the `grpc-status-details-bin` trailer, so no client parses it out of
    the message."""
    if not isinstance(exc, InvalidArgument):
        return ()
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=exc.field, description=exc.problem
    )
    status = status_pb2.Status(code=exc.code.value[0], message=str(exc))
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return tuple(rpc_status.to_status(status).trailing_metadata)


class _Call:
    """Bookkeeping for one RPC: binds log context on entry, records the outcome on exit.

    grpc.aio runs each RPC in a task of its own, with its own copy of the context, so what is
    bound here ends with the call: nothing needs unbinding.
    """

    __slots__ = ("code", "context", "method", "service", "started")

    def __init__(
        self, service: str, method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        self.service = service
        self.method = method
        self.context = context
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        structlog.contextvars.bind_contextvars(rpc=method, request_id=_request_id(context))

    async def fail(self, exc: BaseException) -> None:
        """Turn a handler exception into a status; never leak a driver's text."""
        if isinstance(exc, BehalfError):
            self.code = exc.code
            await self.context.abort(exc.code, str(exc), _status_details(exc))
        if isinstance(exc, _TRANSIENT):
            _log.warning("dependency_unavailable", error=type(exc).__name__)
            self.code = grpc.StatusCode.UNAVAILABLE
            await self.context.abort(grpc.StatusCode.UNAVAILABLE, _UNAVAILABLE_MESSAGE)
        _log.exception("rpc_crashed")
        self.code = grpc.StatusCode.INTERNAL
        await self.context.abort(grpc.StatusCode.INTERNAL, _INTERNAL_MESSAGE)

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.started
        code_name = self.code.name
        _rpc_seconds(self.service, self.method, code_name).observe(elapsed)
        if self.code is grpc.StatusCode.OK:
            _log.debug("rpc_done", code=code_name, ms=round(elapsed * 1000, 3))
        else:
            RPC_ERRORS.labels(self.service, code_name).inc()
            _log.info("rpc_done", code=code_name, ms=round(elapsed * 1000, 3))


@functools.cache
def _rpc_seconds(service: str, method: str, code: str) -> Histogram:
    """The histogram child for one label set, looked up once (`labels()` takes a lock)."""
    return RPC_SECONDS.labels(service, method, code)


class _Undecodable:
    """What a request that is not a well-formed message decodes to, for the handler to refuse
    as INVALID_ARGUMENT (grpc.aio itself answers a failed decode UNKNOWN, with the parser's
    text and no field)."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()


def _not_a_message() -> InvalidArgument:
    return InvalidArgument("request", "is not a well-formed message (bad UTF-8?)")


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _UNDECODABLE

    return decode


def _wrap_unary(
    service: str, method: str, behaviour: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = _Call(service, method, context)
        try:
            if request is _UNDECODABLE:
                raise _not_a_message()
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            call.code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception as exc:
            await call.fail(exc)
        finally:
            call.finish()

    return handle


def _wrap_streaming(
    service: str, method: str, behaviour: Callable[..., Any]
) -> Callable[..., AsyncIterator[Any]]:
    """`behaviour` is an async generator function: grpc's stubs type a method handler's
    behaviours as the synchronous API's (returning an Iterator), not grpc.aio's."""

    async def handle(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        call = _Call(service, method, context)
        try:
            if request is _UNDECODABLE:
                raise _not_a_message()
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            call.code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception as exc:
            await call.fail(exc)
        finally:
            call.finish()

    return handle


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of the server it is installed on."""

    def __init__(self, service: str) -> None:
        self._service = service
        # Method -> (its handler, that handler wrapped). Registered handlers are fixed objects,
        # so each is wrapped once, not on every call; a different handler is wrapped afresh.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full_method = handler_call_details.method
        cached = self._wrapped.get(full_method)
        if cached is not None and cached[0] is handler:
            wrapped: grpc.RpcMethodHandler[Any, Any] = cached[1]
            return wrapped
        wrapped = self._wrap(handler, full_method)
        self._wrapped[full_method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], full_method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = full_method.rsplit("/", 1)[-1]
        if method in {"Check", "Watch"} and "grpc.health" in full_method:
            return handler
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        # A single request is decoded before the handler runs, so the handler can refuse one
        # that does not decode; a streamed request's messages are decoded as the handler reads.
        single = {**kwargs, "request_deserializer": _tolerant(handler.request_deserializer)}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(self._service, method, handler.unary_unary), **single
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(self._service, method, handler.stream_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_streaming(self._service, method, handler.unary_stream), **single
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_streaming(self._service, method, handler.stream_stream), **kwargs
            )
        return handler
