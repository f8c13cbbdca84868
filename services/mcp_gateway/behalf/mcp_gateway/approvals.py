"""Which pending approval a repeated tool call may use: one per exact call, remembered here.

A call's fingerprint is a SHA-256 over the tool name and its arguments in canonical JSON, so
only the very same call (every argument, not just the resource and amount Verify sees) finds
the approval its first attempt created. The agent never names an approval itself; and the
registry independently refuses an approval for any request other than the one it was created
for (agent, action, resource, amount), and consumes it at most once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["PendingApprovals", "call_fingerprint"]

DEFAULT_CAPACITY = 1024


def call_fingerprint(tool: str, arguments: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the tool name and arguments in canonical JSON (sorted keys, no spaces);
    arguments that JSON cannot represent exactly (NaN, infinities) fall back to `repr`."""
    try:
        body = json.dumps(
            {"tool": tool, "arguments": dict(arguments)},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        body = repr((tool, sorted(arguments.items())))
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


class PendingApprovals:
    """Fingerprint to approval id, oldest evicted first beyond `capacity`. In memory only: after
    a restart the same call asks for a new approval, and the old one expires unused."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, str] = OrderedDict()

    def get(self, fingerprint: str) -> str:
        """The approval id remembered for this call, or ""."""
        return self._ids.get(fingerprint, "")

    def remember(self, fingerprint: str, approval_id: str) -> None:
        """Remember the approval the call's Verify created."""
        self._ids[fingerprint] = approval_id
        self._ids.move_to_end(fingerprint)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def forget(self, fingerprint: str, approval_id: str) -> None:
        """Forget the call's approval (used, refused or expired), unless a newer one replaced it."""
        if self._ids.get(fingerprint) == approval_id:
            del self._ids[fingerprint]

    def __len__(self) -> int:
        return len(self._ids)
