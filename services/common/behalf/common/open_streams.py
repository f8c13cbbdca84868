"""Streams anyone may open, with no key: few at a time, and none for long.

Health `Watch` and reflection are served before any credential is asked for, and a stream holds
one of the server's `maximum_concurrent_rpcs` for as long as it is open (and keeps its
connection from idling out). Without a bound, a client with no key could hold them all with a
thousand streams and leave every tenant's Verify, or an admin's DisableAgent,
RESOURCE_EXHAUSTED. Here the servers an interceptor is installed on (a service's listeners) let
`most` such streams be open at once (the next is RESOURCE_EXHAUSTED at once) and end each after
`lifetime_seconds`; health `Check`, which probes use, is a unary call and untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
OPEN_TO_ANYONE = frozenset({HEALTH_WATCH, REFLECTION})
MOST_OPEN = 8
LIFETIME_SECONDS = 30.0


class OpenStreamQuota(grpc.aio.ServerInterceptor):
    """Bounds the streams of `OPEN_TO_ANYONE` on the servers it is installed on, together."""

    def __init__(self, most: int = MOST_OPEN, lifetime_seconds: float = LIFETIME_SECONDS) -> None:
        self._most = most
        self._lifetime = lifetime_seconds
        self._open = 0

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method not in OPEN_TO_ANYONE:
            return handler
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._bounded(handler.unary_stream), **kwargs
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._bounded(handler.stream_stream), **kwargs
            )
        return handler

    def _bounded(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        """`behaviour` within the quota and its lifetime, in its own style: grpc.aio calls a
        coroutine function (health's Watch writes through its context) and iterates an async
        generator function (reflection's stream) differently."""
        if inspect.iscoroutinefunction(behaviour):

            async def writes(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
                async with self._turn(context):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._lifetime):
                            await behaviour(request, context)

            return writes

        async def yields(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async with self._turn(context):
                deadline = asyncio.get_running_loop().time() + self._lifetime
                responses = aiter(behaviour(request, context))
                while True:
                    # The deadline spans only the wait for the next response, never grpc's
                    # write of one, so it cancels the behaviour and nothing of grpc's.
                    try:
                        async with asyncio.timeout_at(deadline):
                            response = await anext(responses)
                    except (StopAsyncIteration, TimeoutError):
                        return
                    yield response

        return yields

    @contextlib.asynccontextmanager
    async def _turn(self, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        """One of the `most` places, or RESOURCE_EXHAUSTED; at its lifetime's end a stream
        ends OK (a client watching health opens another)."""
        if self._open >= self._most:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "too many open streams of this kind"
            )
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1
