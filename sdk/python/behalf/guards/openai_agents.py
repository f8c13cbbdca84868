"""OpenAI Agents SDK: a `FunctionTool` whose body runs only after Behalf answered ALLOW.

    from agents import Agent, function_tool
    from behalf.guards.openai_agents import guarded_tool

    @function_tool
    def buy_tickets(vendor: str, amount: str) -> str: ...

    buy = guarded_tool(behalf, buy_tickets, agent_id=AGENT, action="purchase",
                       resource=lambda vendor, **_: vendor,
                       amount=lambda amount, **_: amount, currency="USD")
    agent = Agent(name="buyer", tools=[buy])

The copy's invoker parses the model's JSON arguments (fractions as `Decimal`, exact; whole
numbers as `int`), refuses a call carrying an argument the mapping neither checks nor lists in
`unchecked_arguments` (ARGUMENT_REJECTED), verifies the rest (each option a value or a callable
that receives the arguments as keywords; see `behalf.guards._mapping`), and only on ALLOW hands
the unchanged JSON to the tool's own invoker, which validates and runs it as before. On
anything else the model gets the refusal's text as the tool's output (see
`behalf.guards._core.Refusal`) and the run goes on; an error of the body itself is handled by
the tool's own failure policy, as without the guard.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from behalf._guard import AsyncVerifier, BlockingVerifier
from behalf.guards._core import UNMAPPED, Refusal, ToolGuard
from behalf.guards._extra import missing_extra

try:
    from agents import FunctionTool
    from agents.tool_context import ToolContext
except ImportError as exc:  # pragma: no cover - exercised by a test in a clean interpreter
    raise missing_extra(__name__, "the OpenAI Agents SDK", "openai-agents") from exc

__all__ = ["guarded_tool"]


def guarded_tool(
    client: AsyncVerifier | BlockingVerifier,
    tool: FunctionTool,
    *,
    agent_id: str | Callable[..., str],
    action: str | Callable[..., str],
    **options: Any,
) -> FunctionTool:
    """A copy of `tool` that verifies every call first; see the module docstring. `options`:
    resource, amount, currency, context, min_revision, approval_id, timeout, and
    unchecked_arguments, times, units (see `behalf.guards._core.ToolGuard`)."""
    if not isinstance(tool, FunctionTool):
        raise TypeError(f"guarded_tool needs an agents FunctionTool, not {tool!r}")
    tool_guard = ToolGuard(client, agent_id=agent_id, action=action, **options)
    invoke = tool.on_invoke_tool

    async def on_invoke_tool(context: ToolContext[Any], input_json: str) -> Any:
        arguments = _arguments(input_json)
        if arguments is None:
            reason = "the tool's arguments are not a JSON object"
            return Refusal("ERROR", UNMAPPED, reason).message
        result = await tool_guard.arun(arguments, lambda: invoke(context, input_json))
        return result.message if isinstance(result, Refusal) else result

    guarded = copy.copy(tool)
    guarded.on_invoke_tool = on_invoke_tool
    return guarded


def _arguments(input_json: str) -> dict[str, Any] | None:
    """The model's arguments as the mapping callables see them, or None if not an object."""
    try:
        # A whole number stays an int: a count, and an amount the tool guard reads as major units.
        arguments = json.loads(input_json or "{}", parse_float=Decimal)
    except ValueError:
        return None
    return arguments if isinstance(arguments, dict) else None
