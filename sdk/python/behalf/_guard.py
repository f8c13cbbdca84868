"""`guard`: verify before the code that acts runs, so a deny raises before it can act.

    @guard(client, agent_id=AGENT, action="purchase", resource="coachella.com",
           amount=lambda order: order.total, currency="USD")
    def charge(order): ...

Any argument may be a value or a callable that receives the wrapped function's arguments.
It works on sync functions (with the blocking `Behalf` client) and async ones (with either
client), and as a context manager: `async with guard(client, agent_id=..., action=...) as
decision:` (or `with` and the blocking client). The wrapped code runs only after an explicit
allow; a deny, an approval requirement, a test-mode decision (`TestModeDecision`: a guard never
runs on one, and has no test-mode option), an unavailable verifier or a failing argument
callable raise first.

The guard checks the decision it gets back itself (`verified`), whatever verifier object it was
given: only an explicit, non-test ALLOW for the request it sent lets the code run. Every call
sends a fresh request id; there is no `request_id` option (an id derived from the arguments, or
a fixed one, would let identical calls share one decision and one budget reservation). Put
correlation ids in `context`.

A guard wraps any function, so it cannot tell which of the function's arguments matter: the
mapping must cover every argument that changes what the code does (whom it pays, how much, how
many times, in which currency). Only the framework guards (`behalf.guards`), which see a tool
call's named arguments, refuse an argument the mapping does not check.

A guard knows the clients only as the `AsyncVerifier` and `BlockingVerifier` protocols, so the
import arrow points one way: the clients' `.guard()` builds a `Guard`; this module imports no
client.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from behalf._errors import VerificationUnavailable
from behalf._models import Decision
from behalf._verify import allowed_or_raise, new_request_id

__all__ = [
    "NO_REQUEST_ID",
    "AsyncVerifier",
    "BlockingVerifier",
    "Guard",
    "averified",
    "guard",
    "verified",
]

F = TypeVar("F", bound=Callable[..., Any])

_FIELDS = (
    "agent_id",
    "action",
    "resource",
    "amount",
    "currency",
    "context",
    "min_revision",
    "approval_id",
)
NO_REQUEST_ID = (
    "a guard has no request_id option: it sends a fresh request id with every call, so "
    "identical calls never share a decision; put correlation ids in context"
)


@runtime_checkable
class AsyncVerifier(Protocol):
    """What a guard needs of an asyncio client (`AsyncBehalf`): `await verify(...)`."""

    def verify(
        self, agent_id: str, action: str, *args: Any, **options: Any
    ) -> Awaitable[Decision]: ...


@runtime_checkable
class BlockingVerifier(Protocol):
    """What a guard needs of the blocking client (`Behalf`): `verify(...)`, and `averify(...)`
    for async code."""

    def verify(self, agent_id: str, action: str, *args: Any, **options: Any) -> Decision: ...

    def averify(
        self, agent_id: str, action: str, *args: Any, **options: Any
    ) -> Awaitable[Decision]: ...


async def averified(
    client: AsyncVerifier | BlockingVerifier, agent_id: str, action: str, **options: Any
) -> Decision:
    """Verify with a fresh request id; the decision only if it is an explicit ALLOW, not a
    test, for that request. Otherwise the exception `verify` would have raised."""
    request_id = new_request_id()
    if isinstance(client, BlockingVerifier):
        decision = await client.averify(agent_id, action, request_id=request_id, **options)
    else:
        decision = await client.verify(agent_id, action, request_id=request_id, **options)
    return _allowed(decision, request_id)


def verified(client: BlockingVerifier, agent_id: str, action: str, **options: Any) -> Decision:
    """Blocking `averified`."""
    request_id = new_request_id()
    return _allowed(client.verify(agent_id, action, request_id=request_id, **options), request_id)


def _allowed(decision: object, request_id: str) -> Decision:
    # The clients raise on anything but ALLOW already; another verifier object might not.
    if not isinstance(decision, Decision):
        raise VerificationUnavailable("the verifier returned no decision")
    allowed_or_raise(decision)
    if decision.request_id != request_id:
        raise VerificationUnavailable("Verify answered another request than the one asked")
    return decision


class Guard:
    """A decorator and context manager that verifies first; see the module docstring."""

    def __init__(
        self,
        client: AsyncVerifier | BlockingVerifier,
        *,
        action: str | Callable[..., str],
        agent_id: str | Callable[..., str],
        resource: Any = "",
        amount: Any = None,
        currency: Any = None,
        context: Any = None,
        min_revision: Any = 0,
        approval_id: Any = "",
        timeout: float | None = None,
    ) -> None:
        if not isinstance(client, AsyncVerifier | BlockingVerifier):
            raise TypeError(f"guard needs an AsyncBehalf or Behalf client, not {client!r}")
        self._client = client
        self._spec: Mapping[str, Any] = {
            "agent_id": agent_id,
            "action": action,
            "resource": resource,
            "amount": amount,
            "currency": currency,
            "context": context,
            "min_revision": min_revision,
            "approval_id": approval_id,
        }
        self._timeout = timeout

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        resolved = {
            name: (value(*args, **kwargs) if callable(value) else value)
            for name, value in self._spec.items()
        }
        resolved["timeout"] = self._timeout
        return resolved

    async def _averify(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Decision:
        return await averified(self._client, **self._arguments(args, kwargs))

    def _verify(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Decision:
        if not isinstance(self._client, BlockingVerifier):
            raise TypeError("a sync guard needs the blocking Behalf client, not AsyncBehalf")
        return verified(self._client, **self._arguments(args, kwargs))

    def __call__(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                await self._averify(args, kwargs)
                return await function(*args, **kwargs)

            return cast(F, guarded_async)

        if not isinstance(self._client, BlockingVerifier):
            raise TypeError(
                f"{getattr(function, '__name__', function)!r} is not async: "
                "guard it with the blocking Behalf client, or make it async"
            )

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._verify(args, kwargs)
            return function(*args, **kwargs)

        return cast(F, guarded)

    async def __aenter__(self) -> Decision:
        return await self._averify((), {})

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def __enter__(self) -> Decision:
        return self._verify((), {})

    def __exit__(self, *exc_info: object) -> None:
        return None


def guard(
    client: AsyncVerifier | BlockingVerifier,
    *,
    action: str | Callable[..., str],
    agent_id: str | Callable[..., str],
    **options: Any,
) -> Guard:
    """Verify before running the decorated function or the `with` block; see the module
    docstring. Options: resource, amount, currency, context, min_revision, approval_id (each a
    value or a callable of the wrapped function's arguments), timeout. An `int` amount is minor
    units here, as everywhere in the SDK but a tool's arguments."""
    if "request_id" in options:
        raise TypeError(NO_REQUEST_ID)
    unknown = set(options) - set(_FIELDS) - {"timeout"}
    if unknown:
        raise TypeError(f"guard() got unknown options: {', '.join(sorted(unknown))}")
    return Guard(client, action=action, agent_id=agent_id, **options)
