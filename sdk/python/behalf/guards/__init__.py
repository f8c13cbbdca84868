"""Guards for agent frameworks: a framework's tool runs only after Behalf answered ALLOW.

    from behalf.guards.openai_agents import guarded_tool   # pip install 'behalf[openai-agents]'
    from behalf.guards.langchain import guarded_tool       # pip install 'behalf[langchain]'

Each `guarded_tool(client, tool, agent_id=..., action=..., resource=..., amount=...,
currency=...)` returns a tool the model calls as before. The options are `behalf.guard`'s, each
a value or a callable that receives the tool's arguments by name, plus `unchecked_arguments`,
`times` and `units`, read as the MCP gateway reads its mapping: a call carrying an argument the
mapping callables do not take and `unchecked_arguments` does not list is refused
(ARGUMENT_REJECTED) before any Verify; `times` names a count that multiplies the amount; a whole
number amount is major units unless `units="minor"`. Every call sends a fresh request id (there
is no `request_id` option). On anything but ALLOW the body does not run and the model gets the
`Refusal`'s text (outcome, reason code, reason, request id, and the approval id of a
REQUIRE_APPROVAL) as the tool's result; see `behalf.guards._core` and `behalf.guards._mapping`.

This package imports no framework; each of its modules imports its own, and names the extra to
install when it is missing.
"""

from behalf.guards._core import Refusal

__all__ = ["Refusal"]
