"""LangChain: a `BaseTool` whose body runs only after Behalf answered ALLOW.

    from langchain_core.tools import tool
    from behalf.guards.langchain import guarded_tool

    @tool
    def buy_tickets(vendor: str, amount: str) -> str:
        "Buy tickets from a vendor."

    buy = guarded_tool(behalf, buy_tickets, agent_id=AGENT, action="purchase",
                       resource=lambda vendor, **_: vendor,
                       amount=lambda amount, **_: amount, currency="USD")

The wrapper has the tool's name, description and argument schema. LangChain validates the
model's arguments against that schema as before; the validated arguments, by name (a string
input of a one-argument tool named as that argument), are checked as `behalf.guards._mapping`
says (an argument the mapping neither checks nor lists in `unchecked_arguments` refuses the
call), verified (each option a value or a callable that receives them as keywords) and, only on
ALLOW, passed to the wrapped tool's `_run`/`_arun` as they came. On anything else the wrapper
raises `ToolRefused` (a `ToolException`), which it always handles: the model gets the refusal's
text as a ToolMessage with status "error" (see `behalf.guards._core.Refusal`). Errors of the
body are handled as the wrapped tool's `handle_tool_error` says.

`invoke`/`run` (sync) need the blocking `Behalf` client; `ainvoke`/`arun` work with either.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from behalf._guard import AsyncVerifier, BlockingVerifier
from behalf.guards._core import ARGUMENT_REJECTED, Refusal, ToolGuard
from behalf.guards._extra import missing_extra

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForToolRun,
        CallbackManagerForToolRun,
    )
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool, ToolException
    from pydantic import PrivateAttr
except ImportError as exc:  # pragma: no cover - exercised by a test in a clean interpreter
    raise missing_extra(__name__, "langchain-core", "langchain") from exc

__all__ = ["GuardedTool", "ToolRefused", "guarded_tool"]

ErrorHandler = bool | str | Callable[[ToolException], Any] | None
_POSITIONAL = Refusal("ERROR", ARGUMENT_REJECTED, "more positional arguments than the tool has")


class ToolRefused(ToolException):
    """Behalf did not allow the call; `.refusal` says why. Handled by the guarded tool."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class GuardedTool(BaseTool):
    """A tool that verifies every call before the wrapped tool runs; build it with
    `guarded_tool`."""

    _inner: BaseTool = PrivateAttr()
    _tool_guard: ToolGuard = PrivateAttr()

    def _run(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        extras = _extras(self._inner._run, run_manager, config)
        result = self._tool_guard.run(
            self._named(args, kwargs), lambda: self._inner._run(*args, **kwargs, **extras)
        )
        if isinstance(result, Refusal):
            raise ToolRefused(result)
        return result

    async def _arun(
        self,
        *args: Any,
        config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        extras = _extras(self._inner._arun, run_manager, config)
        result = await self._tool_guard.arun(
            self._named(args, kwargs), lambda: self._inner._arun(*args, **kwargs, **extras)
        )
        if isinstance(result, Refusal):
            raise ToolRefused(result)
        return result

    def _named(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name: LangChain passes a string input positionally, as the
        schema's first argument."""
        names = list(self._inner.args)
        if len(args) > len(names):
            raise ToolRefused(_POSITIONAL)
        return {**dict(zip(names, args, strict=False)), **kwargs}


def guarded_tool(
    client: AsyncVerifier | BlockingVerifier,
    tool: BaseTool,
    *,
    agent_id: str | Callable[..., str],
    action: str | Callable[..., str],
    **options: Any,
) -> GuardedTool:
    """A tool that verifies every call of `tool` first; see the module docstring. `options`:
    resource, amount, currency, context, min_revision, approval_id, timeout, and
    unchecked_arguments, times, units (see `behalf.guards._core.ToolGuard`)."""
    if not isinstance(tool, BaseTool):
        raise TypeError(f"guarded_tool needs a langchain BaseTool, not {tool!r}")
    tool_guard = ToolGuard(client, agent_id=agent_id, action=action, **options)
    guarded = GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        verbose=tool.verbose,
        callbacks=tool.callbacks,
        tags=tool.tags,
        metadata=tool.metadata,
        extras=tool.extras,
        response_format=tool.response_format,
        handle_validation_error=tool.handle_validation_error,
        handle_tool_error=_error_handler(tool.handle_tool_error),
    )
    guarded._inner = tool
    guarded._tool_guard = tool_guard
    return guarded


def _error_handler(inner: ErrorHandler) -> Callable[[ToolException], Any]:
    """Refusals become the model's text; the body's own ToolExceptions are handled as the
    wrapped tool's `handle_tool_error` says (re-raised when it handles none)."""

    def handle(exc: ToolException) -> Any:
        if isinstance(exc, ToolRefused):
            return exc.refusal.message
        if not inner:
            raise exc
        if isinstance(inner, str):
            return inner
        if callable(inner):
            return inner(exc)
        return exc.args[0] if exc.args else "Tool execution error"

    return handle


def _extras(method: Callable[..., Any], run_manager: Any, config: RunnableConfig) -> dict[str, Any]:
    """The run manager and config for the wrapped tool's `_run`/`_arun`, passed the way
    `BaseTool.run` passes them: by parameter name, and by a `RunnableConfig` annotation."""
    extras: dict[str, Any] = {}
    if "run_manager" in inspect.signature(method).parameters:
        extras["run_manager"] = run_manager
    try:
        hints = typing.get_type_hints(method)
    except Exception:  # unresolvable annotations: fall back to the name
        hints = {}
    names = [name for name, hint in hints.items() if hint is RunnableConfig] or ["config"]
    for name in names:
        if name in inspect.signature(method).parameters:
            extras[name] = config
    return extras
