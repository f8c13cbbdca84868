"""The observability interceptor wraps each registered handler once and counts every call."""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import REGISTRY

from behalf.common.interceptors import ObservabilityInterceptor


async def _echo(request: bytes, context: Any) -> bytes:
    return request


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
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("cache-test")])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "t.Cache", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    labels = {"service": "cache-test", "method": "Echo", "code": "OK"}
    before = REGISTRY.get_sample_value("behalf_rpc_seconds_count", labels) or 0.0
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary("/t.Cache/Echo")
            for n in range(5):
                assert await echo(bytes([n])) == bytes([n])
    finally:
        await server.stop(None)
    assert REGISTRY.get_sample_value("behalf_rpc_seconds_count", labels) == before + 5
