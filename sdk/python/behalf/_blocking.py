"""The blocking client `Behalf`: the same `AsyncBehalf` run on a private event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import timedelta
from typing import Any, TypeVar

import grpc

from behalf._client import DEFAULT_TIMEOUT, AsyncBehalf
from behalf._exceptions import ApprovalRequired, BehalfError
from behalf._guard import Guard, guard
from behalf._models import Approval, Decision
from behalf._passport import SignedPassport

__all__ = ["Behalf"]

T = TypeVar("T")


class Behalf:
    """The blocking client: the same `AsyncBehalf` run on a private event-loop thread.

    `with Behalf(api_key=..., target=...) as behalf: behalf.verify(...)`. Async code holding a
    `Behalf` can `await behalf.averify(...)`.
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
        self.aio = AsyncBehalf(
            api_key,
            target=target,
            registry_target=registry_target,
            timeout=timeout,
            retries=retries,
            credentials=credentials,
            insecure=insecure,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="behalf-sdk", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def timeout(self) -> float:
        """The default deadline of each call, in seconds."""
        return self.aio.timeout

    def __enter__(self) -> Behalf:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channels and stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        self._submit(self.aio.close()).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._closed and self._loop.is_closed():
            coro.close()
            raise BehalfError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._submit(coro).result()
        except ApprovalRequired as exc:
            self._adopt(exc)
            raise

    def _adopt(self, exc: ApprovalRequired) -> None:
        """Make the error's waiters run on this client's loop."""
        exc._waiter = self._await_approval
        exc._sync_waiter = self._wait_blocking

    def verify(self, agent_id: str, action: str, **options: Any) -> Decision:
        """Blocking `AsyncBehalf.verify`."""
        return self._run(self.aio.verify(agent_id, action, **options))

    def check(self, agent_id: str, action: str, **options: Any) -> Decision:
        """Blocking `AsyncBehalf.check`: the test-mode decision, never raised, never acted on."""
        return self._run(self.aio.check(agent_id, action, **options))

    async def averify(self, agent_id: str, action: str, **options: Any) -> Decision:
        """`AsyncBehalf.verify` from any event loop, run on this client's loop."""
        try:
            return await asyncio.wrap_future(
                self._submit(self.aio.verify(agent_id, action, **options))
            )
        except ApprovalRequired as exc:
            self._adopt(exc)
            raise

    def get_approval(self, approval_id: str, *, timeout: float | None = None) -> Approval:
        """Blocking `AsyncBehalf.get_approval`."""
        return self._run(self.aio.get_approval(approval_id, timeout=timeout))

    def wait_for_approval(
        self, approval_id: str, *, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> Approval:
        """Blocking `AsyncBehalf.wait_for_approval`."""
        return self._run(
            self.aio.wait_for_approval(approval_id, timeout=timeout, poll_interval=poll_interval)
        )

    def _wait_blocking(self, approval_id: str, timeout: float, poll_interval: float) -> Approval:
        return self.wait_for_approval(approval_id, timeout=timeout, poll_interval=poll_interval)

    async def _await_approval(
        self,
        approval_id: str,
        timeout: float,  # noqa: ASYNC109
        poll_interval: float,
    ) -> Approval:
        future = self._submit(
            self.aio.wait_for_approval(approval_id, timeout=timeout, poll_interval=poll_interval)
        )
        return await asyncio.wrap_future(future)

    def export_passport(
        self,
        agent_id: str,
        *,
        valid_for: timedelta | None = None,
        timeout: float | None = None,
    ) -> SignedPassport:
        """Blocking `AsyncBehalf.export_passport`."""
        return self._run(self.aio.export_passport(agent_id, valid_for=valid_for, timeout=timeout))

    def passport_keys(self, *, timeout: float | None = None) -> dict[str, str]:
        """Blocking `AsyncBehalf.passport_keys`."""
        return self._run(self.aio.passport_keys(timeout=timeout))

    def guard(self, **options: Any) -> Guard:
        """`guard(self, ...)`: see `behalf.guard`."""
        return guard(self, **options)
