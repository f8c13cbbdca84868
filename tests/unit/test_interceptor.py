"""The observability interceptor wraps each registered handler once, counts every call, and
binds each call's name and request id for its log lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from behalf.common.interceptors import ObservabilityInterceptor
from behalf.v1 import registry_pb2


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def _bound(request: bytes, context: Any) -> bytes:
    bound = structlog.contextvars.get_contextvars()
    return f"{bound.get('rpc')}|{bound.get('request_id')}".encode()


@asynccontextmanager
async def _serving(
    service: str, method: str, behaviour: Any, deserializer: Any = None
) -> AsyncIterator[Any]:
    """A real grpc.aio server with the interceptor, serving one unary method; yields its stub
    (which sends and receives bytes)."""
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor(service)])
    handler = grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=deserializer)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(f"t.{service}", {method: handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel.unary_unary(f"/t.{service}/{method}")
    finally:
        await server.stop(None)


def _details(method: str) -> grpc.HandlerCallDetails:
    class Details(grpc.HandlerCallDetails):
        def __init__(self) -> None:
            self.method = method
            self.invocation_metadata = ()

    return Details()


async def test_a_handler_is_wrapped_once_and_a_new_one_afresh():
    interceptor = ObservabilityInterceptor("cache-test")
    first = grpc.unary_unary_rpc_method_handler(_echo)
    second = grpc.unary_unary_rpc_method_handler(_echo)

    def returning(handler: Any) -> Any:
        async def continuation(_details: grpc.HandlerCallDetails) -> Any:
            return handler

        return continuation

    a = await interceptor.intercept_service(returning(first), _details("/t.S/Echo"))
    b = await interceptor.intercept_service(returning(first), _details("/t.S/Echo"))
    c = await interceptor.intercept_service(returning(second), _details("/t.S/Echo"))
    assert a is b  # the same registered handler: its wrapper is reused
    assert a is not first  # but it is wrapped
    assert c is not a  # another handler behind the same method is wrapped afresh
    assert await interceptor.intercept_service(returning(None), _details("/t.S/No")) is None


async def test_every_call_through_a_cached_wrapper_is_observed():
    labels = {"service": "cache-test", "method": "Echo", "code": "OK"}
    before = REGISTRY.get_sample_value("behalf_rpc_seconds_count", labels) or 0.0
    async with _serving("cache-test", "Echo", _echo) as echo:
        for n in range(5):
            assert await echo(bytes([n])) == bytes([n])
    assert REGISTRY.get_sample_value("behalf_rpc_seconds_count", labels) == before + 5


async def test_each_call_logs_under_its_own_request_id():
    async with _serving("log-test", "Bound", _bound) as bound:
        given = await bound(b"", metadata=(("x-request-id", "caller-42"),))
        first = await bound(b"")
        second = await bound(b"")
    assert given == b"Bound|caller-42"  # the caller's id is kept
    first_rpc, first_id = first.decode().split("|")
    _, second_id = second.decode().split("|")
    assert first_rpc == "Bound"
    # Made here when the caller sends none: never the previous call's (grpc.aio gives each RPC
    # a task, so the interceptor need not unbind), and never the same twice.
    assert first_id not in ("caller-42", "None") and second_id not in ("caller-42", first_id)
    assert first_id.rpartition("-")[0] == second_id.rpartition("-")[0]  # one process prefix
    assert "request_id" not in structlog.contextvars.get_contextvars()


async def _named(request: registry_pb2.CreateAgentRequest, context: Any) -> bytes:
    return request.name.encode()


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x04ab\xff\xfe",  # name = 4 bytes that are not UTF-8
        b"\x0a\x09short",  # name says 9 bytes, 5 follow
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a field number past the limit
    ],
)
async def test_a_request_that_does_not_decode_is_invalid_argument(body: bytes) -> None:
    """Bytes that are no message of the method's type are the caller's error, named as such:
    INVALID_ARGUMENT on `request`, not grpc's UNKNOWN with the parser's exception text."""
    deserializer = registry_pb2.CreateAgentRequest.FromString
    async with _serving("decode-test", "Create", _named, deserializer) as create:
        assert await create(b"\x0a\x02ok") == b"ok"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await create(body)
    error = refused.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "DecodeError" not in (error.details() or "")
    status = rpc_status.from_call(error)
    assert status is not None
    violation = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(violation)
    assert violation.field_violations[0].field == "request"
