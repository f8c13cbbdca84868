"""The action grammar the services check: the one definition, shared with the SDK."""

from __future__ import annotations

# Defined once, next to the SDK's own check (the SDK ships the wire contract that every
# service already imports, and must not import service code), so a client and every service
# agree on what an action is.
from behalf._verify import ACTION_PATTERN, MAX_ACTION_LENGTH, is_action

__all__ = ["ACTION_PATTERN", "MAX_ACTION_LENGTH", "is_action"]
