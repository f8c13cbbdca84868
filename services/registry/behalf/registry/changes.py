"""Recording a committed change: the policy revision and the outbox row (SQL in `store`).

Kept for the readers of revisions (the watch hub, test fixtures); commands use
`behalf.registry.commands.transaction`, which takes the revision for them.
"""

from __future__ import annotations

from behalf.registry.store.outbox import Subject, write_event
from behalf.registry.store.revisions import current_revision, next_revision

__all__ = ["Subject", "current_revision", "next_revision", "write_event"]
