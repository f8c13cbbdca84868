"""A tiny in-process grpc.aio server that answers Verify and GetApproval as a test scripts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from behalf.v1 import (
    common_pb2,
    registry_pb2,
    registry_pb2_grpc,
    resources_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)

# A step: a Decision to answer, a StatusCode to abort with, or a (delay, step) pair.
Step = common_pb2.Decision | grpc.StatusCode | tuple[float, object]


def decision(outcome: str, reason: str = "ALLOWED", **fields) -> common_pb2.Decision:
    return common_pb2.Decision(
        outcome=common_pb2.Outcome.Value(f"OUTCOME_{outcome}"),
        reason_code=common_pb2.ReasonCode.Value(f"REASON_CODE_{reason}"),
        reason=fields.pop("reason_text", reason.lower()),
        risk=fields.pop("risk", common_pb2.RISK_LOW),
        request_id=fields.pop("request_id", ""),  # "": the request's own, as a verifier answers
        **fields,
    )


@dataclass
class Fake:
    """What the fake server will answer next, and what it was asked."""

    verify_steps: list[Step] = field(default_factory=list)
    approval_states: list[int] = field(default_factory=list)
    requests: list[verifier_pb2.VerifyRequest] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    target: str = ""

    def script(self, *steps: Step) -> None:
        self.verify_steps[:] = steps
        self.requests.clear()


async def _play(step: object, context: grpc.aio.ServicerContext, reply: Callable[[object], object]):
    if isinstance(step, tuple):
        delay, step = step
        await asyncio.sleep(delay)
    if isinstance(step, grpc.StatusCode) and step == grpc.StatusCode.INVALID_ARGUMENT:
        await context.abort(step, "agent_id: is required", _bad_request("agent_id", step))
    if isinstance(step, grpc.StatusCode):
        await context.abort(step, "nope")
    return reply(step)


def _bad_request(field: str, code: grpc.StatusCode) -> tuple[tuple[str, bytes], ...]:
    """The trailer a service attaches to INVALID_ARGUMENT: google.rpc.BadRequest naming `field`."""
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description="is required")
    status = status_pb2.Status(code=code.value[0], message=f"{field}: is required")
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return (("grpc-status-details-bin", status.SerializeToString()),)


class _Verifier(verifier_pb2_grpc.VerifierServiceServicer):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    async def Verify(self, request, context):
        self.fake.requests.append(request)
        self.fake.metadata.append(dict(context.invocation_metadata()))
        step = self.fake.verify_steps.pop(0) if self.fake.verify_steps else grpc.StatusCode.INTERNAL

        def answer(scripted: common_pb2.Decision) -> verifier_pb2.VerifyResponse:
            answered = common_pb2.Decision()
            answered.CopyFrom(scripted)
            answered.request_id = scripted.request_id or request.request_id
            return verifier_pb2.VerifyResponse(decision=answered)

        return await _play(step, context, answer)


class _Registry(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    async def GetApproval(self, request, context):
        states = self.fake.approval_states
        state = states.pop(0) if len(states) > 1 else states[0]
        return registry_pb2.GetApprovalResponse(
            approval=resources_pb2.Approval(
                approval_id=request.approval_id, state=state, agent_id="agt_1", action="purchase"
            )
        )


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[Fake]:
    """One fake server per module, serving Verify and GetApproval on one port."""
    state = Fake()
    server = grpc.aio.server()
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(_Verifier(state), server)
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(_Registry(state), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    state.target = f"127.0.0.1:{port}"
    yield state
    await server.stop(0)
