"""The observability interceptor binds each RPC's name and request id for its log lines, and
nothing bound for one call is seen by the next (it relies on grpc.aio's task per RPC)."""

from __future__ import annotations

from typing import Any

import grpc
import structlog

from behalf.common.interceptors import ObservabilityInterceptor


async def _bound(request: bytes, context: Any) -> bytes:
    bound = structlog.contextvars.get_contextvars()
    return f"{bound.get('rpc')}|{bound.get('request_id')}".encode()


async def test_each_call_logs_under_its_own_request_id():
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("log-test")])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "t.Log", {"Bound": grpc.unary_unary_rpc_method_handler(_bound)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            bound = channel.unary_unary("/t.Log/Bound")
            given = await bound(b"", metadata=(("x-request-id", "caller-42"),))
            first = await bound(b"")
            second = await bound(b"")
    finally:
        await server.stop(None)
    assert given == b"Bound|caller-42"  # the caller's id is kept
    first_rpc, first_id = first.decode().split("|")
    _, second_id = second.decode().split("|")
    assert first_rpc == "Bound"
    # Made here when the caller sends none: never the previous call's, never reused.
    assert first_id not in ("caller-42", "None") and second_id not in ("caller-42", first_id)
    assert first_id.rpartition("-")[0] == second_id.rpartition("-")[0]  # one process prefix
    assert "request_id" not in structlog.contextvars.get_contextvars()
