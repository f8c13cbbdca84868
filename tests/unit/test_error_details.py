"""An InvalidArgument names its field in google.rpc.BadRequest details; clients read it there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from behalf import InvalidRequest, bad_request_field
from behalf._status import map_rpc_error
from behalf.common.errors import InvalidArgument, NotFound
from behalf.common.interceptors import ObservabilityInterceptor
from behalf.console.backend import translate


async def _bad(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise InvalidArgument("amount.currency", "is not an ISO-4217 code")


async def _missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise NotFound("agent agt_x not found")


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("test")])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Errors",
                {
                    "Bad": grpc.unary_unary_rpc_method_handler(_bad),
                    "Missing": grpc.unary_unary_rpc_method_handler(_missing),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as open_channel:
        yield open_channel
    await server.stop(None)


async def _fail(channel: grpc.aio.Channel, method: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(f"/test.Errors/{method}")(b"")
    return caught.value


def _status(field: str, description: str, message: str) -> bytes:
    status = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=message)
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return status.SerializeToString()


class _Error(grpc.RpcError):
    """A failed call as the SDK sees it: code, message text and trailers."""

    def __init__(self, details: str, trailers: tuple[tuple[str, bytes], ...] = ()) -> None:
        self._details = details
        self._trailers = trailers

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INVALID_ARGUMENT

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


async def test_interceptor_attaches_bad_request_with_the_field(channel) -> None:
    """INVALID_ARGUMENT carries one BadRequest violation naming the field, and the same text."""
    error = await _fail(channel, "Bad")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "amount.currency: is not an ISO-4217 code"
    status = rpc_status.from_call(error)
    assert status is not None and len(status.details) == 1
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("amount.currency", "is not an ISO-4217 code")
    ]


async def test_other_domain_errors_carry_no_details(channel) -> None:
    """A NOT_FOUND keeps its message and sends no status details."""
    error = await _fail(channel, "Missing")
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert rpc_status.from_call(error) is None
    assert bad_request_field(error) is None


async def test_sdk_reads_the_field_from_a_live_servers_details(channel) -> None:
    """The SDK's InvalidRequest from a real interceptor answer names the field in the details."""
    error = map_rpc_error(await _fail(channel, "Bad"))
    assert isinstance(error, InvalidRequest) and error.field == "amount.currency"


def test_sdk_field_comes_from_details_not_from_the_message() -> None:
    """With details present the field is theirs, even when the message text names another."""
    trailers = (("grpc-status-details-bin", _status("resource", "bad", "agent_id: bad")),)
    error = map_rpc_error(_Error("agent_id: bad", trailers))
    assert isinstance(error, InvalidRequest)
    assert error.field == "resource" and error.message == "agent_id: bad"


def test_sdk_never_reads_the_field_from_the_message() -> None:
    """Without details the field is unknown, even when the message starts with "<field>: "."""
    error = map_rpc_error(_Error("action: is required"))
    assert isinstance(error, InvalidRequest)
    assert error.field is None and error.message == "action: is required"


def test_malformed_details_name_no_field() -> None:
    """An undecodable details trailer is ignored rather than raised."""
    assert bad_request_field(_Error("x", (("grpc-status-details-bin", b"\xff\xff\xff"),))) is None


def test_console_backend_error_takes_the_field_from_details() -> None:
    """The console's BackendError names the field from the details, not from its text."""
    trailers = (("grpc-status-details-bin", _status("url", "must be https", "form: url")),)
    error = translate(_Error("form: url", trailers), "registry")
    assert error.field == "url" and str(error) == "form: url"
    assert translate(_Error("url: must be https"), "registry").field is None
