"""Building a snapshot chunk by chunk as WatchPolicy delivers it, in small resumable steps.

`SnapshotBuilder` converts each chunk's agents and permissions as soon as it arrives, so the
verifier never holds the whole snapshot twice (as protobuf messages and as entries), and all
its work is done in steps: `add` and `finish` are generators that yield after every `step`
objects, and the caller (policy_watch) gives the event loop a turn at each yield, so Verify
keeps answering from the previous snapshot while a million permissions are converted. One
`Interner` per build shares repeated values. Pure: no I/O, no asyncio.
"""

from __future__ import annotations

from collections.abc import Iterator

from behalf.v1 import internal_pb2
from behalf.verifier.interning import Interner
from behalf.verifier.persistent_map import PersistentMapBuilder
from behalf.verifier.snapshot import (
    AgentEntry,
    AgentKey,
    AgentPolicy,
    InvalidDelta,
    PermissionEntry,
    PermissionKey,
    PolicySnapshot,
    agent_from_proto,
    permission_from_proto,
)

STEP = 1000  # objects converted between two turns of the event loop (about 2 to 5 ms)


class SnapshotBuilder:
    """Accumulates one snapshot's chunks (all of one revision); `finish` then `result`."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self._interner = Interner()
        self._agents: dict[AgentKey, AgentEntry] = {}
        self._grouped: dict[AgentKey, dict[str, PermissionEntry]] = {}
        self._owners: PersistentMapBuilder[PermissionKey, str] = PersistentMapBuilder()
        self._result: PolicySnapshot | None = None
        self.chunks = 0

    def add(self, chunk: internal_pb2.PolicySnapshotChunk, step: int = STEP) -> Iterator[None]:
        """Convert one chunk's agents and unrevoked permissions, yielding every `step` objects."""
        if chunk.revision != self.revision:
            raise InvalidDelta("snapshot chunks carry different revisions")
        if self._result is not None:
            raise InvalidDelta("snapshot chunk after the last one")
        self.chunks += 1
        interner = self._interner
        for done, message in enumerate(chunk.agents, 1):
            agent = agent_from_proto(message, interner)
            self._agents[(agent.tenant_id, agent.agent_id)] = agent
            if done % step == 0:
                yield
        for done, permission_message in enumerate(chunk.permissions, 1):
            if not permission_message.revoked:
                permission = permission_from_proto(permission_message, interner)
                key = (permission.tenant_id, permission.agent_id)
                passport = self._grouped.get(key)
                if passport is None:
                    passport = self._grouped[key] = {}
                passport[permission.permission_id] = permission
                self._owners[(permission.tenant_id, permission.permission_id)] = permission.agent_id
            if done % step == 0:
                yield

    def finish(self, step: int = STEP) -> Iterator[None]:
        """Index every agent's passport, yielding every `step` agents; then `result()` is ready."""
        agents: PersistentMapBuilder[AgentKey, AgentPolicy] = PersistentMapBuilder()
        done = 0
        # Agents (with or without permissions), then permissions whose agent is unknown; no
        # union of the key sets, which at 100,000 agents is one long step.
        for key, agent in self._agents.items():
            passport = self._grouped.pop(key, None)
            agents[key] = AgentPolicy.build(agent, passport.values() if passport else ())
            done += 1
            if done % step == 0:
                yield
        for key, passport in self._grouped.items():
            agents[key] = AgentPolicy.build(None, passport.values())
            done += 1
            if done % step == 0:
                yield
        self._grouped.clear()
        self._result = PolicySnapshot(self.revision, agents.build(), self._owners.build())
        self._agents.clear()
        self._interner = Interner()

    def result(self) -> PolicySnapshot:
        """The finished snapshot (after `finish` has run to its end)."""
        if self._result is None:
            raise InvalidDelta("snapshot is incomplete: no chunk marked last")
        return self._result


def snapshot_from_chunks(chunks: list[internal_pb2.PolicySnapshotChunk]) -> PolicySnapshot:
    """Build a snapshot from a complete chunk sequence in one go (tests and benchmarks)."""
    if not chunks or not chunks[-1].last:
        raise InvalidDelta("snapshot is incomplete: no chunk marked last")
    builder = SnapshotBuilder(chunks[0].revision)
    for chunk in chunks:
        for _ in builder.add(chunk):
            pass
    for _ in builder.finish():
        pass
    return builder.result()
