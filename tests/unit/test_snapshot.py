"""Tests for building the policy snapshot from registry messages and applying deltas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.snapshot import (
    ActionCategory,
    InvalidDelta,
    MatchKind,
    Money,
    PolicySnapshot,
    apply_delta,
    build_snapshot,
    permission_from_proto,
)
from behalf.verifier.snapshot_build import snapshot_from_chunks

T1, T2 = "ten_one00000000000000000", "ten_two00000000000000000"


def agent(aid: str = "agt_a", tenant: str = T1, disabled: bool = False) -> resources_pb2.Agent:
    return resources_pb2.Agent(agent_id=aid, tenant_id=tenant, disabled=disabled, revision=1)


def perm(
    pid: str, aid: str = "agt_a", tenant: str = T1, **fields: object
) -> resources_pb2.Permission:
    fields.setdefault("allowed_actions", ["browse_web"])
    return resources_pb2.Permission(permission_id=pid, agent_id=aid, tenant_id=tenant, **fields)


def delta(
    revision: int, *changes: internal_pb2.PolicyChange, tenant: str = T1
) -> internal_pb2.PolicyDelta:
    return internal_pb2.PolicyDelta(revision=revision, tenant_id=tenant, changes=list(changes))


def up_agent(message: resources_pb2.Agent) -> internal_pb2.PolicyChange:
    return internal_pb2.PolicyChange(agent_upserted=message)


def up_perm(message: resources_pb2.Permission) -> internal_pb2.PolicyChange:
    return internal_pb2.PolicyChange(permission_upserted=message)


def test_permission_conversion_reads_every_field() -> None:
    """A Permission message becomes a frozen entry with plain Python values."""
    expires = Timestamp()
    expires.FromDatetime(datetime(2030, 1, 1, tzinfo=UTC))
    entry = permission_from_proto(
        perm(
            "prm_1",
            allowed_actions=["purchase"],
            blocked_actions=["issue_refund"],
            resources=["Shop.Example.com", "*.example.org"],
            max_amount=common_pb2.Money(amount_minor=500, currency="USD"),
            budget=common_pb2.Money(amount_minor=9000, currency="USD"),
            budget_spent_minor=10,
            expires_at=expires,
            requires_approval=True,
            category=common_pb2.ACTION_CATEGORY_TRANSACTIONS,
        )
    )
    assert entry.allowed_actions == frozenset({"purchase"})
    assert entry.blocked_actions == frozenset({"issue_refund"})
    assert set(entry.exact_resources) == {"shop.example.com"}
    assert entry.wildcard_resources == ("*.example.org",)
    assert not entry.any_resource
    assert (entry.max_amount, entry.budget) == (Money(500, "USD"), Money(9000, "USD"))
    assert entry.budget_spent_minor == 10 and entry.not_before is None
    assert entry.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert entry.requires_approval and entry.category is ActionCategory.TRANSACTIONS
    with pytest.raises(AttributeError):
        entry.requires_approval = False  # type: ignore[misc]


def test_unnormalizable_resources_never_widen_a_grant() -> None:
    """A grant whose only resource is invalid matches nothing rather than everything."""
    entry = permission_from_proto(perm("prm_1", resources=["not a host"]))
    assert not entry.any_resource
    assert entry.match("anything.example.com") is None


def test_an_unreadable_name_allows_nowhere_and_blocks_everywhere() -> None:
    """A stored name the parser now refuses drops out of the grant's allows, not its blocks.

    U+3164 was deleted by an older parser, so the row may say `coachella<U+3164>.com` where the
    grant meant coachella.com: blocking every resource is the only reading that blocks it.
    """
    entry = permission_from_proto(
        perm(
            "prm_1",
            allowed_actions=["purchase"],
            blocked_actions=["export"],
            resources=["coachella\u3164.com", "shop.example.com"],
        )
    )
    assert entry.unreadable_resources and not entry.any_resource
    assert entry.match("shop.example.com") is MatchKind.EXACT
    assert entry.match("coachella.com") is None
    assert entry.block_match("coachella.com") is MatchKind.ANY_RESOURCE
    assert entry.block_match("shop.example.com") is MatchKind.EXACT
    alone = permission_from_proto(perm("prm_2", resources=["coachella\u3164.com"]))
    assert alone.match("coachella.com") is None
    assert alone.block_match("coachella.com") is MatchKind.ANY_RESOURCE
    readable = permission_from_proto(perm("prm_3", resources=["coachella.com"]))
    assert not readable.unreadable_resources and readable.block_match("other.com") is None


def test_match_kinds() -> None:
    """match tells exact, wildcard and any-resource coverage apart."""
    scoped = permission_from_proto(perm("prm_1", resources=["a.example.com", "*.example.com"]))
    assert scoped.match("a.example.com") is MatchKind.EXACT
    assert scoped.match("b.example.com") is MatchKind.WILDCARD
    assert scoped.match("example.com") is None
    anything = permission_from_proto(perm("prm_2", resources=["*"]))
    assert anything.any_resource
    assert anything.match("") is MatchKind.ANY_RESOURCE
    assert anything.match("evil.com") is MatchKind.ANY_RESOURCE


def test_a_grant_without_resources_matches_nothing() -> None:
    """A permission whose resources list is empty matches no resource, not every resource."""
    entry = permission_from_proto(perm("prm_1"))
    assert not entry.any_resource
    assert entry.match("") is None
    assert entry.match("example.com") is None


def test_star_is_the_least_specific_match() -> None:
    """Next to `*`, an exact name or a wildcard still reports its more specific match kind."""
    entry = permission_from_proto(perm("prm_1", resources=["*", "a.example.com", "*.example.com"]))
    assert entry.match("a.example.com") is MatchKind.EXACT
    assert entry.match("b.example.com") is MatchKind.WILDCARD
    assert entry.match("other.org") is MatchKind.ANY_RESOURCE


def test_legacy_unbracketed_ipv6_grant_matches_nothing() -> None:
    """A stored resource the parser now refuses (unbracketed IPv6) never widens a grant."""
    entry = permission_from_proto(perm("prm_1", resources=["2001:db8::1"]))
    assert not entry.any_resource and not entry.exact_resources
    assert entry.match("[2001:db8::1]") is None


def test_agents_are_keyed_by_tenant() -> None:
    """An agent id looked up in another tenant is invisible."""
    snapshot = build_snapshot(3, [agent("agt_a", T1)], [perm("prm_1")])
    assert snapshot.agent_policy(T1, "agt_a") is not None
    assert snapshot.agent_policy(T2, "agt_a") is None
    assert snapshot.revision == 3


def test_revoked_permissions_are_left_out() -> None:
    """Building a snapshot drops revoked permissions."""
    snapshot = build_snapshot(1, [agent()], [perm("prm_1", revoked=True), perm("prm_2")])
    policy = snapshot.agent_policy(T1, "agt_a")
    assert policy is not None
    assert [p.permission_id for p in policy.permissions] == ["prm_2"]
    assert snapshot.permission_count == 1


def test_permissions_are_sorted_and_indexed_by_action() -> None:
    """Each agent's permissions are sorted by id and indexed by allowed and blocked action."""
    snapshot = build_snapshot(
        1,
        [agent()],
        [
            perm("prm_c", allowed_actions=["purchase"]),
            perm("prm_a", allowed_actions=["browse_web"], blocked_actions=["purchase"]),
            perm("prm_b", allowed_actions=["purchase", "browse_web"]),
        ],
    )
    policy = snapshot.agent_policy(T1, "agt_a")
    assert policy is not None
    assert [p.permission_id for p in policy.permissions] == ["prm_a", "prm_b", "prm_c"]
    assert [p.permission_id for p in policy.for_action("purchase")] == ["prm_a", "prm_b", "prm_c"]
    assert [p.permission_id for p in policy.for_action("browse_web")] == ["prm_a", "prm_b"]
    assert policy.for_action("send_email") == ()


def test_apply_delta_returns_a_new_snapshot_and_keeps_the_old() -> None:
    """Disabling an agent by delta changes the new snapshot only."""
    old = build_snapshot(1, [agent()], [perm("prm_1")])
    new = apply_delta(old, delta(2, up_agent(agent(disabled=True))))
    old_policy, new_policy = old.agent_policy(T1, "agt_a"), new.agent_policy(T1, "agt_a")
    assert old_policy is not None and new_policy is not None
    assert old_policy.agent is not None and not old_policy.agent.disabled
    assert new_policy.agent is not None and new_policy.agent.disabled
    assert (old.revision, new.revision) == (1, 2)
    assert new_policy.permissions == old_policy.permissions


def test_apply_delta_shares_untouched_agents() -> None:
    """Agents a delta does not touch keep the very same AgentPolicy object."""
    old = build_snapshot(1, [agent("agt_a"), agent("agt_b")], [perm("prm_1", "agt_b")])
    new = apply_delta(old, delta(2, up_perm(perm("prm_2", "agt_a"))))
    assert new.agent_policy(T1, "agt_b") is old.agent_policy(T1, "agt_b")
    assert new.agent_policy(T1, "agt_a") is not old.agent_policy(T1, "agt_a")


def test_revoking_by_delta_removes_the_permission() -> None:
    """A permission upserted as revoked disappears from the snapshot."""
    old = build_snapshot(1, [agent()], [perm("prm_1")])
    new = apply_delta(old, delta(2, up_perm(perm("prm_1", revoked=True))))
    policy = new.agent_policy(T1, "agt_a")
    assert policy is not None and policy.permissions == ()
    assert new.permission_count == 0


def test_permission_deleted_by_id() -> None:
    """permission_deleted removes a permission knowing only its id."""
    old = build_snapshot(1, [agent()], [perm("prm_1"), perm("prm_2")])
    new = apply_delta(old, delta(2, internal_pb2.PolicyChange(permission_deleted="prm_1")))
    policy = new.agent_policy(T1, "agt_a")
    assert policy is not None and [p.permission_id for p in policy.permissions] == ["prm_2"]


def test_agent_deleted_takes_its_permissions() -> None:
    """Deleting an agent removes it and its permissions."""
    old = build_snapshot(1, [agent()], [perm("prm_1")])
    new = apply_delta(old, delta(2, internal_pb2.PolicyChange(agent_deleted="agt_a")))
    assert new.agent_policy(T1, "agt_a") is None
    assert new.permission_count == 0


def test_permission_moving_agents_leaves_the_old_agent() -> None:
    """Upserting a permission under another agent removes it from the previous one."""
    old = build_snapshot(1, [agent("agt_a"), agent("agt_b")], [perm("prm_1", "agt_a")])
    new = apply_delta(old, delta(2, up_perm(perm("prm_1", "agt_b"))))
    a, b = new.agent_policy(T1, "agt_a"), new.agent_policy(T1, "agt_b")
    assert a is not None and a.permissions == ()
    assert b is not None and [p.permission_id for p in b.permissions] == ["prm_1"]


def test_an_older_delta_is_ignored_and_one_at_the_revision_applied() -> None:
    """Below the snapshot's revision a delta returns the same snapshot; at it, it is applied
    (one revision may change several tenants; the watcher knows which it has applied)."""
    snapshot = build_snapshot(5, [agent()], [])
    assert apply_delta(snapshot, delta(4, up_agent(agent(disabled=True)))) is snapshot
    same = apply_delta(snapshot, delta(5, up_agent(agent(disabled=True))))
    policy = same.agent_policy(T1, "agt_a")
    assert same.revision == 5 and policy is not None and policy.agent.disabled


def test_delta_cannot_cross_tenants() -> None:
    """A delta for one tenant carrying another tenant's object is refused."""
    snapshot = build_snapshot(1, [], [])
    with pytest.raises(InvalidDelta):
        apply_delta(snapshot, delta(2, up_agent(agent(tenant=T2)), tenant=T1))
    with pytest.raises(InvalidDelta):
        apply_delta(snapshot, delta(2, up_perm(perm("prm_1", tenant=T2)), tenant=T1))


def test_delta_deletes_are_scoped_to_its_tenant() -> None:
    """Deleting an id in one tenant leaves the same id in another tenant alone."""
    snapshot = build_snapshot(1, [agent(tenant=T2)], [perm("prm_1", tenant=T2)])
    new = apply_delta(
        snapshot,
        delta(
            2,
            internal_pb2.PolicyChange(agent_deleted="agt_a"),
            internal_pb2.PolicyChange(permission_deleted="prm_1"),
            tenant=T1,
        ),
    )
    policy = new.agent_policy(T2, "agt_a")
    assert policy is not None and len(policy.permissions) == 1


def test_empty_change_is_refused() -> None:
    """A change with no member set is an invalid delta."""
    with pytest.raises(InvalidDelta):
        apply_delta(build_snapshot(1, [], []), delta(2, internal_pb2.PolicyChange()))


def test_snapshot_from_chunks() -> None:
    """A complete chunk sequence builds one snapshot; incomplete or mixed ones are refused."""
    first = internal_pb2.PolicySnapshotChunk(revision=9, agents=[agent()])
    last = internal_pb2.PolicySnapshotChunk(revision=9, permissions=[perm("prm_1")], last=True)
    snapshot = snapshot_from_chunks([first, last])
    assert snapshot.revision == 9 and snapshot.permission_count == 1
    with pytest.raises(InvalidDelta):
        snapshot_from_chunks([first])
    with pytest.raises(InvalidDelta):
        snapshot_from_chunks([first, internal_pb2.PolicySnapshotChunk(revision=10, last=True)])


AGENT_IDS = ["agt_a", "agt_b", "agt_c"]
PERMISSION_IDS = ["prm_1", "prm_2", "prm_3", "prm_4"]
CHANGES = st.one_of(
    st.builds(
        lambda a, d: up_agent(agent(a, disabled=d)), st.sampled_from(AGENT_IDS), st.booleans()
    ),
    st.builds(lambda a: internal_pb2.PolicyChange(agent_deleted=a), st.sampled_from(AGENT_IDS)),
    st.builds(
        lambda p, a, r, acts: up_perm(perm(p, a, revoked=r, allowed_actions=acts)),
        st.sampled_from(PERMISSION_IDS),
        st.sampled_from(AGENT_IDS),
        st.booleans(),
        st.lists(st.sampled_from(["purchase", "browse_web"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda p: internal_pb2.PolicyChange(permission_deleted=p), st.sampled_from(PERMISSION_IDS)
    ),
)


def _state(snapshot: PolicySnapshot) -> dict:
    return {key: (p.agent, p.permissions, dict(p.by_action)) for key, p in snapshot.agents.items()}


@settings(max_examples=150)
@given(st.lists(st.lists(CHANGES, min_size=1, max_size=4), max_size=6))
def test_deltas_agree_with_a_rebuild(batches: list[list[internal_pb2.PolicyChange]]) -> None:
    """Applying deltas gives the same snapshot as rebuilding from the resulting objects."""
    agents: dict[str, resources_pb2.Agent] = {}
    permissions: dict[str, resources_pb2.Permission] = {}
    snapshot = build_snapshot(0, [agent("agt_other", T2)], [perm("prm_1", "agt_other", T2)])
    for revision, batch in enumerate(batches, start=1):
        snapshot = apply_delta(snapshot, delta(revision, *batch))
        for change in batch:
            kind = change.WhichOneof("change")
            if kind == "agent_upserted":
                agents[change.agent_upserted.agent_id] = change.agent_upserted
            elif kind == "agent_deleted":
                agents.pop(change.agent_deleted, None)
                for pid in [
                    p for p, m in permissions.items() if m.agent_id == change.agent_deleted
                ]:
                    del permissions[pid]
            elif kind == "permission_upserted":
                permissions[change.permission_upserted.permission_id] = change.permission_upserted
            else:
                permissions.pop(change.permission_deleted, None)
    rebuilt = build_snapshot(
        len(batches),
        [*agents.values(), agent("agt_other", T2)],
        [*permissions.values(), perm("prm_1", "agt_other", T2)],
    )
    assert _state(snapshot) == _state(rebuilt)
    assert snapshot.permission_count == rebuilt.permission_count
