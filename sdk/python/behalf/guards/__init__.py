"""Guards for agent frameworks: a framework's tool runs only after Behalf answered ALLOW.

    from behalf.guards.openai_agents import guarded_tool   # pip install 'behalf[openai-agents]'
    from behalf.guards.langchain import guarded_tool       # pip install 'behalf[langchain]'

Each `guarded_tool(client, tool, agent_id=..., action=..., resource=..., amount=...,
currency=...)` returns a tool the model calls as before. The options are `behalf.guard`'s, each
a value or a callable that receives the tool's arguments. On anything but ALLOW the body does
not run and the model gets the `Refusal`'s text (outcome, reason code, reason, request id, and
the approval id of a REQUIRE_APPROVAL) as the tool's result; see `behalf.guards._core`.

This package imports no framework; each of its modules imports its own, and names the extra to
install when it is missing.
"""

from behalf.guards._core import Refusal

__all__ = ["Refusal"]
