"""The asyncio client `AsyncBehalf`; `behalf._blocking.Behalf` runs it on a thread.

One long-lived channel per service (verifier for Verify; registry for approvals and passports),
created on first use, with keepalive; TLS unless the target is loopback or the caller passes
`insecure=True` (see `behalf._transport`). Every call has a deadline (`timeout`, default 2 s).

Retries. Verify is retried only on `UNAVAILABLE` (the request did not get a decision), within
the one overall deadline, and always with the same request id: the SDK generates the request id
before the first attempt when the caller gives none, and the registry's stateful steps (budget
reservation, approval creation) are idempotent on it, so a retry cannot reserve budget twice.
`DEADLINE_EXCEEDED` is not retried: the deadline is spent. Registry reads (GetApproval) are
retried the same way; nothing else is. When no decision arrives the call raises
`VerificationUnavailable`: never a silent allow.

Test mode. `verify` never returns a test-mode decision (it raises `TestModeDecision`, an
`ActionDenied`); `check` is the separate call that asks in test mode ("would this be allowed?",
budgets read, not spent) and returns the decision whatever its outcome, for test links and
consoles. Nothing that acts should ever follow a `check`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import grpc

from behalf._exceptions import (
    ApprovalRejected,
    ApprovalTimeout,
    AuthenticationError,
    BehalfError,
    VerificationUnavailable,
)
from behalf._guard import Guard, guard
from behalf._models import Approval, Decision
from behalf._money import AmountLike
from behalf._passport import SignedPassport
from behalf._status import map_rpc_error
from behalf._stubs import registry_stub, verifier_stub
from behalf._transport import channel_credentials, insecure_from_env
from behalf._verify import build_verify_request, check_decision, decision_or_raise
from behalf.v1 import registry_pb2

__all__ = ["DEFAULT_REGISTRY", "DEFAULT_TIMEOUT", "DEFAULT_VERIFIER", "AsyncBehalf"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 2.0
DEFAULT_VERIFIER = "127.0.0.1:50052"
DEFAULT_REGISTRY = "127.0.0.1:50051"
_VERSION = "0.1.0"
_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.enable_retries", 0),  # the SDK decides what is safe to retry
    ("grpc.primary_user_agent", f"behalf-python/{_VERSION}"),
)
_BACKOFF_SECONDS = 0.05


class AsyncBehalf:
    """The asyncio client. Use one per event loop; `async with` closes its channels.

    `verify` returns the `Decision` on ALLOW and raises otherwise (see `behalf._exceptions`);
    `check` asks in test mode and returns the decision without raising.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        target: str | None = None,
        registry_target: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 2,
        credentials: grpc.ChannelCredentials | None = None,
        insecure: bool | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("BEHALF_API_KEY", "")
        if not key:
            raise AuthenticationError("no API key: pass api_key= or set BEHALF_API_KEY")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self._metadata = (("authorization", f"Bearer {key}"),)
        self.target = target or os.environ.get("BEHALF_VERIFIER") or DEFAULT_VERIFIER
        self.registry_target = (
            registry_target or os.environ.get("BEHALF_REGISTRY") or DEFAULT_REGISTRY
        )
        self.timeout = timeout
        self.retries = max(0, retries)
        self._credentials = credentials
        self._insecure = insecure_from_env() if insecure is None else insecure
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> AsyncBehalf:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channels; the client opens new ones if used again."""
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    def _channel(self, target: str) -> grpc.aio.Channel:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # channels belong to the loop that made them
            self._channels, self._loop = {}, loop
        channel = self._channels.get(target)
        if channel is None:
            creds = channel_credentials(target, self._credentials, insecure=self._insecure)
            if creds is None:
                channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.secure_channel(target, creds, _CHANNEL_OPTIONS)
            self._channels[target] = channel
        return channel

    async def verify(
        self,
        agent_id: str,
        action: str,
        *,
        resource: str = "",
        amount: AmountLike | None = None,
        currency: str | None = None,
        context: Mapping[str, str] | None = None,
        min_revision: int = 0,
        approval_id: str = "",
        request_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a gRPC deadline, not a sleep)
    ) -> Decision:
        """May `agent_id` do `action` on `resource` for `amount` now? The `Decision` on ALLOW;
        `ActionDenied` (`TestModeDecision` for a test-mode answer, even an ALLOW),
        `ApprovalRequired`, `VerificationUnavailable`, `InvalidRequest` or
        `AuthenticationError` otherwise. Test runs use `check`.

        `amount`: int minor units (79999), or `Decimal`/str major units ("799.99") converted
        exactly with `currency`'s exponent, or a `Money`. Floats raise `TypeError`.
        """
        request = build_verify_request(
            agent_id,
            action,
            resource=resource,
            amount=amount,
            currency=currency,
            context=context,
            min_revision=min_revision,
            approval_id=approval_id,
            request_id=request_id,
        )
        stub = verifier_stub(self._channel(self.target))
        reply = await self._unary(stub.Verify, request, "Verify", timeout)
        return decision_or_raise(reply, request.request_id, waiter=self._wait)

    async def check(
        self,
        agent_id: str,
        action: str,
        *,
        resource: str = "",
        amount: AmountLike | None = None,
        currency: str | None = None,
        context: Mapping[str, str] | None = None,
        min_revision: int = 0,
        request_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a gRPC deadline, not a sleep)
    ) -> Decision:
        """Would `verify` with these arguments be allowed? A test-mode Verify: decided and
        audited as a test, budgets read but not spent, no approval created or consumed. Returns
        the `Decision` (`test_mode` True) whatever its outcome; it authorizes nothing, so never
        act on it. Raises only when no test-mode answer arrives (`VerificationUnavailable`),
        for a bad request (`InvalidRequest`) or a refused key (`AuthenticationError`).
        """
        request = build_verify_request(
            agent_id,
            action,
            resource=resource,
            amount=amount,
            currency=currency,
            context=context,
            min_revision=min_revision,
            request_id=request_id,
            test_mode=True,
        )
        stub = verifier_stub(self._channel(self.target))
        reply = await self._unary(stub.Verify, request, "Verify", timeout)
        return check_decision(reply, request.request_id)

    async def get_approval(
        self,
        approval_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (a gRPC deadline, not a sleep)
    ) -> Approval:
        """The approval's current state (verify keys may read their own approvals)."""
        stub = registry_stub(self._channel(self.registry_target))
        request = registry_pb2.GetApprovalRequest(approval_id=approval_id)
        reply = await self._unary(stub.GetApproval, request, "GetApproval", timeout)
        return Approval.from_proto(reply.approval)

    async def wait_for_approval(
        self,
        approval_id: str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109
        poll_interval: float = 1.0,
    ) -> Approval:
        """Poll until the approval is APPROVED (returned); `ApprovalRejected` when it is denied,
        expired or used; `ApprovalTimeout` when still pending after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApprovalTimeout(approval_id, timeout)
            try:
                approval = await self.get_approval(
                    approval_id, timeout=min(self.timeout, remaining)
                )
            except VerificationUnavailable:
                approval = None  # keep polling until the deadline
            if approval is not None and approval.state == "APPROVED":
                return approval
            if approval is not None and approval.state != "PENDING":
                raise ApprovalRejected(approval)
            await asyncio.sleep(max(0.0, min(poll_interval, deadline - time.monotonic())))

    async def _wait(
        self,
        approval_id: str,
        timeout: float,  # noqa: ASYNC109
        poll_interval: float,
    ) -> Approval:
        return await self.wait_for_approval(
            approval_id, timeout=timeout, poll_interval=poll_interval
        )

    async def export_passport(
        self,
        agent_id: str,
        *,
        valid_for: timedelta | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SignedPassport:
        """The agent's signed passport, valid for `valid_for` (the registry's default, one
        hour, if None; at most seven days); check it with `.verify(await passport_keys())`."""
        stub = registry_stub(self._channel(self.registry_target))
        request = registry_pb2.ExportPassportRequest(agent_id=agent_id)
        if valid_for is not None:
            request.valid_for.FromTimedelta(valid_for)
        reply = await self._unary(stub.ExportPassport, request, "ExportPassport", timeout, False)
        return SignedPassport(
            document=reply.document,
            signature=reply.signature,
            key_id=reply.key_id,
            public_key=reply.public_key,
        )

    async def passport_keys(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, str]:
        """The registry's published passport signing keys, key id to public key: fetch once,
        pin them, then verify passports offline with `SignedPassport.verify(public_key=...)`."""
        stub = registry_stub(self._channel(self.registry_target))
        request = registry_pb2.ListPassportKeysRequest()
        reply = await self._unary(
            stub.ListPassportKeys, request, "ListPassportKeys", timeout, False
        )
        return {key.key_id: key.public_key for key in reply.keys}

    def guard(self, **options: Any) -> Guard:
        """`guard(self, ...)`: see `behalf.guard`."""
        return guard(self, **options)

    async def _unary(
        self,
        method: Callable[..., Awaitable[T]],
        request: object,
        what: str,
        timeout: float | None,  # noqa: ASYNC109
        retry: bool = True,
    ) -> T:
        """One RPC under one overall deadline, retried on UNAVAILABLE when `retry`."""
        budget = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + budget
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise VerificationUnavailable(f"{what}: deadline of {budget:g}s exceeded")
                return await method(request, metadata=self._metadata, timeout=remaining)
            except grpc.RpcError as exc:
                error = map_rpc_error(exc, what)
                backoff = _BACKOFF_SECONDS * (2**attempt) * (0.5 + random.random())
                if (
                    error.code == "UNAVAILABLE"
                    and attempt + 1 < attempts
                    and deadline - time.monotonic() > backoff
                ):
                    await asyncio.sleep(backoff)
                    continue
                raise error from exc
            except BehalfError:
                raise
            except Exception as exc:  # anything else in the transport: fail closed
                raise VerificationUnavailable(f"{what} failed: {type(exc).__name__}") from exc
        raise VerificationUnavailable(f"{what}: no attempt left")  # pragma: no cover
