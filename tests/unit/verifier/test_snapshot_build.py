"""Building the snapshot chunk by chunk, with shared values and unindexed small passports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.interning import Interner
from behalf.verifier.snapshot import (
    AgentPolicy,
    InvalidDelta,
    MatchKind,
    PermissionEntry,
    PolicySnapshot,
    build_snapshot,
    permission_from_proto,
)
from behalf.verifier.snapshot_build import SnapshotBuilder, snapshot_from_chunks

T1, T2 = "ten_one00000000000000000", "ten_two00000000000000000"
ACTIONS = ["read_email", "purchase", "send_email", "issue_refund"]
RESOURCES = [
    "shop.example.com",
    "*.example.com",
    "*",
    "xn--bcher-kva.example",
    "bad..name",
    "1.2.3.4",
]


def timestamp(year: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(year, 1, 1, tzinfo=UTC))
    return stamp


@st.composite
def policies(draw: st.DrawFn) -> tuple[list[resources_pb2.Agent], list[resources_pb2.Permission]]:
    agents = [
        resources_pb2.Agent(tenant_id=t, agent_id=f"agt_{i}", disabled=draw(st.booleans()))
        for i in range(draw(st.integers(1, 4)))
        for t in (T1, T2)
    ]
    permissions = []
    for n in range(draw(st.integers(0, 60))):
        owner = draw(st.sampled_from(agents))
        permissions.append(
            resources_pb2.Permission(
                permission_id=f"prm_{n:04d}",
                tenant_id=owner.tenant_id,
                agent_id=owner.agent_id,
                allowed_actions=draw(st.lists(st.sampled_from(ACTIONS), max_size=2)),
                blocked_actions=draw(st.lists(st.sampled_from(ACTIONS), max_size=1)),
                resources=draw(st.lists(st.sampled_from(RESOURCES), max_size=2)),
                max_amount=draw(
                    st.none() | st.just(common_pb2.Money(amount_minor=500, currency="USD"))
                ),
                expires_at=draw(st.none() | st.just(timestamp(2030))),
                revoked=draw(st.booleans()),
                category=draw(st.integers(0, 9)),
            )
        )
    return agents, permissions


def chunked(revision: int, agents: list, permissions: list, size: int) -> list:
    chunks = [internal_pb2.PolicySnapshotChunk(revision=revision, agents=agents)]
    for start in range(0, len(permissions), size):
        chunks.append(
            internal_pb2.PolicySnapshotChunk(
                revision=revision, permissions=permissions[start : start + size]
            )
        )
    chunks[-1].last = True
    return chunks


def same(left: PolicySnapshot, right: PolicySnapshot) -> None:
    assert left.revision == right.revision
    assert dict(left.permission_owners.items()) == dict(right.permission_owners.items())
    assert set(left.agents) == set(right.agents)
    for key in left.agents:
        a, b = left.agents[key], right.agents[key]
        assert a.agent == b.agent and a.permissions == b.permissions
        for action in [*ACTIONS, "other"]:
            assert a.for_action(action) == b.for_action(action)


@settings(max_examples=150, deadline=None)
@given(policies(), st.integers(1, 7))
def test_chunked_build_equals_one_shot_build(policy: tuple, size: int) -> None:
    """However the stream is chunked, the builder makes the snapshot build_snapshot makes."""
    agents, permissions = policy
    built = snapshot_from_chunks(chunked(9, agents, permissions, size))
    same(built, build_snapshot(9, agents, permissions))


@settings(max_examples=150, deadline=None)
@given(policies())
def test_small_passports_scan_like_the_index(policy: tuple) -> None:
    """An unindexed passport answers for_action exactly as the action index does."""
    _agents, permissions = policy
    entries = [permission_from_proto(p) for p in permissions if not p.revoked]
    for count in (len(entries), 15, 16, 17):
        subset = entries[:count]
        policy_built = AgentPolicy.build(None, subset)
        for action in [*ACTIONS, "other"]:
            expected = tuple(
                sorted(
                    (p for p in subset if action in p.allowed_actions | p.blocked_actions),
                    key=lambda p: p.permission_id,
                )
            )
            assert policy_built.for_action(action) == expected


def test_builder_yields_between_steps() -> None:
    """The builder hands control back every `step` objects, so the loop is never held long."""
    agents = [resources_pb2.Agent(tenant_id=T1, agent_id=f"agt_{i}") for i in range(10)]
    permissions = [
        resources_pb2.Permission(
            permission_id=f"prm_{i}",
            tenant_id=T1,
            agent_id=f"agt_{i % 10}",
            allowed_actions=["read_email"],
            resources=["shop.example.com"],
        )
        for i in range(100)
    ]
    builder = SnapshotBuilder(3)
    turns = sum(1 for _ in builder.add(chunked(3, agents, permissions, 100)[0], step=5))
    turns += sum(1 for _ in builder.add(chunked(3, [], permissions, 100)[1], step=5))
    turns += sum(1 for _ in builder.finish(step=5))
    assert turns == 2 + 20 + 2
    assert builder.result().permission_count == 100


def test_chunks_of_another_revision_are_refused() -> None:
    """A chunk from a different revision cannot be mixed into a snapshot being built."""
    builder = SnapshotBuilder(5)
    with pytest.raises(InvalidDelta):
        list(builder.add(internal_pb2.PolicySnapshotChunk(revision=6)))
    with pytest.raises(InvalidDelta):
        builder.result()


def test_repeated_values_are_shared() -> None:
    """Equal tenant ids, action sets, limits and times become one object per build."""
    interner = Interner()
    first, second = (
        permission_from_proto(
            resources_pb2.Permission(
                permission_id=pid,
                tenant_id=T1,
                agent_id="agt_a",
                allowed_actions=["purchase"],
                resources=["shop.example.com"],
                expires_at=timestamp(2031),
                max_amount=common_pb2.Money(amount_minor=5, currency="USD"),
            ),
            interner,
        )
        for pid in ("prm_1", "prm_2")
    )
    assert first.tenant_id is second.tenant_id
    assert first.allowed_actions is second.allowed_actions
    assert first.exact_resources is second.exact_resources
    assert first.expires_at is second.expires_at
    assert first.max_amount is second.max_amount


def test_a_shared_resource_list_does_not_widen_another_grant() -> None:
    """A hostile look-alike pattern, cached for one grant, never matches for a grant it lacks."""
    interner = Interner()
    crafted = permission_from_proto(
        resources_pb2.Permission(
            permission_id="prm_1",
            tenant_id=T1,
            agent_id="agt_a",
            allowed_actions=["purchase"],
            resources=["*.example.com\u200b", "shop.example.com:99", "SHOP.example.com."],
        ),
        interner,
    )
    honest = permission_from_proto(
        resources_pb2.Permission(
            permission_id="prm_2",
            tenant_id=T1,
            agent_id="agt_a",
            allowed_actions=["purchase"],
            resources=["shop.example.com"],
        ),
        interner,
    )
    assert crafted.match("evil.example.com") is None
    assert crafted.match("shop.example.com") is None
    assert honest.match("shop.example.com") is MatchKind.EXACT
    assert honest.match("evil.example.com") is None


@given(st.lists(st.sampled_from([*RESOURCES, "a.example.net", "*.example.net"]), max_size=3))
def test_one_name_grants_match_as_the_general_path_does(resources: list[str]) -> None:
    """A grant's resources match the same names whether it names one pattern or repeats it."""

    def entry(names: list[str]) -> PermissionEntry:
        return permission_from_proto(
            resources_pb2.Permission(
                permission_id="prm_1",
                tenant_id=T1,
                agent_id="agt_a",
                allowed_actions=["purchase"],
                resources=names,
            )
        )

    one, repeated = entry(resources), entry(resources * 2)
    for name in ("shop.example.com", "a.example.net", "b.example.net", "1.2.3.4", "example.com"):
        assert one.match(name) == repeated.match(name)
    if len(resources) == 1 and not resources[0].startswith("*"):
        assert len(one.exact_resources) <= 1


@settings(max_examples=50, deadline=None)
@given(policies(), st.integers(1, 7))
def test_permissions_of_agents_missing_from_the_snapshot_are_kept(policy: tuple, size: int) -> None:
    """Permissions whose agent the stream never names are kept as build_snapshot keeps them."""
    agents, permissions = policy
    named = agents[: len(agents) // 2]
    built = snapshot_from_chunks(chunked(9, named, permissions, size))
    same(built, build_snapshot(9, named, permissions))
    for key, agent_policy in built.agents.items():
        assert (agent_policy.agent is None) == (
            key not in {(a.tenant_id, a.agent_id) for a in named}
        )
