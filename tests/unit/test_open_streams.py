"""Streams anyone may open with no key (health Watch, reflection) are few at a time and end
after their lifetime, so a client holding them cannot use up the server's concurrent calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from behalf.common.open_streams import OpenStreamQuota
from behalf.common.reflection import enable_reflection


async def _echo(request: bytes, context: Any) -> bytes:
    return request


@pytest.fixture
async def target() -> AsyncIterator[str]:
    """A server allowing 6 calls at once, 3 of them streams anyone may open, for 1 s each."""
    server = grpc.aio.server(
        interceptors=[OpenStreamQuota(most=3, lifetime_seconds=1.0)], maximum_concurrent_rpcs=6
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    enable_reflection([health.SERVICE_NAME], server)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "t.S", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_a_flood_of_watch_streams_leaves_room_for_every_other_call(target: str) -> None:
    """Ten Watch streams from a client with no key: three open, seven are RESOURCE_EXHAUSTED,
    and calls of every other kind still find room (before, each open Watch held one of the
    server's concurrent calls for as long as the client liked: 1,000 of them left every
    tenant's Verify RESOURCE_EXHAUSTED)."""
    async with grpc.aio.insecure_channel(target) as channel:
        health_stub = health_pb2_grpc.HealthStub(channel)
        watches = [health_stub.Watch(health_pb2.HealthCheckRequest()) for _ in range(10)]
        outcomes = []
        for watch in watches:
            try:
                first = await asyncio.wait_for(watch.read(), 5)
                outcomes.append(first.status == health_pb2.HealthCheckResponse.SERVING)
            except grpc.aio.AioRpcError as refused:
                outcomes.append(refused.code())
        assert outcomes.count(True) == 3
        assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 7
        echo = channel.unary_unary("/t.S/Echo")
        assert await asyncio.gather(*(echo(b"x", timeout=5) for _ in range(3))) == [b"x"] * 3
        # At its lifetime's end each open stream ends OK, and a new one may open.
        for watch in watches:
            if outcomes[watches.index(watch)] is True:
                assert await asyncio.wait_for(watch.read(), 5) is grpc.aio.EOF
                assert await watch.code() == grpc.StatusCode.OK
        again = health_stub.Watch(health_pb2.HealthCheckRequest())
        assert (
            await asyncio.wait_for(again.read(), 5)
        ).status == health_pb2.HealthCheckResponse.SERVING
        again.cancel()


async def test_reflection_streams_are_bounded_too(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        asks = reflection_pb2.ServerReflectionRequest(list_services="")
        streams = [stub.ServerReflectionInfo() for _ in range(4)]
        codes = []
        for stream in streams:
            try:
                await stream.write(asks)
                await asyncio.wait_for(stream.read(), 5)
                codes.append(grpc.StatusCode.OK)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):  # refused before the write
                codes.append(await stream.code())
        assert codes.count(grpc.StatusCode.OK) == 3
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 1
        for stream in streams:
            stream.cancel()
