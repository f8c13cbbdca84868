"""Policy a tenant admin may create never makes a WatchPolicy snapshot chunk larger than a
verifier can receive. Chunks hold up to `snapshot_chunk_size` (5,000) items of every tenant, in
id order, and at most CHUNK_MAX_BYTES; the verifier's channel takes at most 64 MiB per message
(verifier/app.py), and the registry sends at most MAX_SEND_BYTES (64 MiB)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from behalf.common.actions import MAX_ACTION_LENGTH
from behalf.common.host import MAX_SEND_BYTES
from behalf.common.ids import new_id
from behalf.registry import validation as v
from behalf.registry.store.policy_reads import PolicyItem
from behalf.registry.watch.deltas import snapshot_chunks
from behalf.v1 import resources_pb2

VERIFIER_MAX_RECEIVE = 64 * 1024 * 1024  # verifier/app.py: the registry channel's option
CHUNK = 5000  # PolicyStream's default snapshot_chunk_size
LIMIT = min(VERIFIER_MAX_RECEIVE, MAX_SEND_BYTES)


def _action(prefix: str, n: int) -> str:
    return f"{prefix}{n:03d}_" + "x" * (MAX_ACTION_LENGTH - 5)  # 64 characters, lower_snake


def _resource(n: int) -> str:
    """A 253-character host name, unique per n."""
    return ".".join([f"h{n:03d}" + "a" * 59, "b" * 63, "c" * 63, "d" * 57]) + ".com"


def _largest_permission(tenant_id: str, agent_id: str) -> resources_pb2.Permission:
    """The largest permission GrantPermission accepts: 64 + 64 actions of 64 characters and
    100 resources of 253 characters, each passed through the registry's own validators."""
    allowed = v.actions([_action("a", n) for n in range(v.MAX_ACTIONS)], "allowed_actions")
    blocked = v.actions([_action("b", n) for n in range(v.MAX_ACTIONS)], "blocked_actions")
    patterns = v.resources([_resource(n) for n in range(v.MAX_RESOURCES)])
    assert len(allowed) == len(blocked) == 64 and len(patterns) == 100
    assert all(len(p) == 253 for p in patterns)
    return resources_pb2.Permission(
        permission_id=new_id("prm"),
        tenant_id=tenant_id,
        agent_id=agent_id,
        allowed_actions=allowed,
        blocked_actions=blocked,
        resources=patterns,
        revision=1,
    )


def _largest_agent(tenant_id: str) -> resources_pb2.Agent:
    """The largest agent CreateAgent accepts: name, description and labels at their limits in
    4-byte characters (the limits count characters, not bytes)."""
    wide = "\U0001f600"  # an emoji: one character, four UTF-8 bytes, no control
    labels = v.labels({f"k{n:02d}" + "k" * 60: wide * 63 for n in range(v.MAX_LABELS)})
    return resources_pb2.Agent(
        agent_id=new_id("agt"),
        tenant_id=tenant_id,
        name=v.name(wide * v.MAX_NAME),
        description=v.description(wide * v.MAX_DESCRIPTION),
        labels=labels,
        revision=1,
    )


async def _items(make: object, count: int) -> AsyncIterator[PolicyItem]:
    for _ in range(count):
        yield make()  # type: ignore[operator]


async def _largest_chunk(items: AsyncIterator[PolicyItem]) -> int:
    return max([r.ByteSize() async for r in snapshot_chunks(7, items, CHUNK)])


async def test_a_chunk_of_one_tenants_largest_permissions_fits_a_verifiers_message() -> None:
    """Attack: a tenant admin grants a few thousand permissions, each at every limit (about
    34 kB). A snapshot chunk of 5,000 of them is ~170 MB, over the 64 MiB the registry sends and
    a verifier receives, so every verifier that (re)connects fails its snapshot forever and
    denies every tenant STALE_POLICY. Safe: chunks are bounded by bytes, not only items."""
    tenant, agent = new_id("ten"), new_id("agt")
    one = _largest_permission(tenant, agent)
    size = await _largest_chunk(_items(lambda: one, CHUNK))
    assert size <= LIMIT, f"a snapshot chunk of {size:,} bytes exceeds {LIMIT:,}"


async def test_a_chunk_of_one_tenants_largest_agents_fits_a_verifiers_message() -> None:
    """Attack: as above with agents (about 19 kB each with emoji name, description and label
    values): agents come first in a snapshot, so 5,000 of them are one ~95 MB chunk. Safe: every
    chunk fits the verifier's 64 MiB receive limit."""
    tenant = new_id("ten")
    one = _largest_agent(tenant)
    size = await _largest_chunk(_items(lambda: one, CHUNK))
    assert size <= LIMIT, f"a snapshot chunk of {size:,} bytes exceeds {LIMIT:,}"
