"""The errors commands raise for the state they find."""

from __future__ import annotations

from behalf.common.errors import NotFound


def not_found(kind: str, object_id: str) -> NotFound:
    """The one message for a missing id and another tenant's id alike."""
    return NotFound(f"{kind} {object_id} not found")
