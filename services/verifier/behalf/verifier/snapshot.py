"""The verifier's immutable, pre-indexed policy snapshot, and applying registry deltas to it.

Protobuf messages are converted to frozen dataclasses once, here, so the hot path reads plain
attributes. Layout, all keyed by tenant first so another tenant's objects are unreachable:

    PolicySnapshot
    ├── agents:            (tenant_id, agent_id)      -> AgentPolicy (agent + its permissions,
    │                                                    sorted by id and indexed by action)
    └── permission_owners: (tenant_id, permission_id) -> agent_id (for deletes by id)

Both maps are `PersistentMap`s, so `apply_delta` copies only the buckets it touches and rebuilds
only the touched agents' `AgentPolicy`: cheap even for a snapshot of a million permissions, and
the old snapshot stays valid for requests still deciding on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

from behalf.common.resource_names import (
    ANY_RESOURCE,
    InvalidResourceName,
    is_wildcard,
    normalize_pattern,
    resource_matches,
)
from behalf.v1 import common_pb2, internal_pb2, resources_pb2
from behalf.verifier.interning import Interner
from behalf.verifier.persistent_map import PersistentMap


class InvalidDelta(ValueError):
    """A delta or snapshot chunk is inconsistent (for example it crosses tenants)."""


class ActionCategory(IntEnum):
    """Mirror of behalf.v1.ActionCategory (same numbers)."""

    UNSPECIFIED = 0
    DATA_ACCESS = 1
    MESSAGING = 2
    SCHEDULING = 3
    TRANSACTIONS = 4
    CONTENT = 5
    ADMIN_WORKFLOWS = 6


class MatchKind(IntEnum):
    """How a permission's resources cover a resource, most specific first."""

    EXACT = 0
    WILDCARD = 1
    ANY_RESOURCE = 2


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units of one ISO-4217 currency."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """The parts of an agent the decision needs."""

    tenant_id: str
    agent_id: str
    disabled: bool
    revision: int = 0
    # Manual test mode: every decision about the agent is a test decision (api.Verifier).
    test_mode: bool = False


# One exact name is held as a 1-tuple (48 bytes) rather than a frozenset (216 bytes); a grant
# naming several exact names keeps a frozenset. Either answers `name in exact_resources`.
ExactNames = frozenset[str] | tuple[str, ...]


class PermissionEntry(NamedTuple):
    """One unrevoked passport line, with its resources pre-split into exact names and wildcards.

    `any_resource` is true only when the grant names the explicit `*` pattern. A grant naming no
    resources, or whose names all failed normalization, allows nothing rather than everything.
    `unreadable_resources` marks a grant with a name that no longer normalizes (stored under an
    older, looser parser): its blocks then hold on every resource (`block_match`).
    A named tuple rather than a frozen dataclass: immutable all the same, and made in a quarter
    of the time (a frozen dataclass sets each of its 16 fields through object.__setattr__),
    which a snapshot of a million permissions pays a million times.
    """

    permission_id: str
    tenant_id: str
    agent_id: str
    allowed_actions: frozenset[str]
    blocked_actions: frozenset[str] = frozenset()
    exact_resources: ExactNames = frozenset()
    wildcard_resources: tuple[str, ...] = ()
    any_resource: bool = False
    max_amount: Money | None = None
    budget: Money | None = None
    budget_spent_minor: int = 0
    not_before: datetime | None = None
    expires_at: datetime | None = None
    requires_approval: bool = False
    category: ActionCategory = ActionCategory.UNSPECIFIED
    revision: int = 0
    unreadable_resources: bool = False

    def match(self, resource: str) -> MatchKind | None:
        """How this permission covers a normalized resource, most specific kind; None if not."""
        if resource in self.exact_resources:
            return MatchKind.EXACT
        if any(resource_matches(pattern, resource) for pattern in self.wildcard_resources):
            return MatchKind.WILDCARD
        if self.any_resource:
            return MatchKind.ANY_RESOURCE
        return None

    def block_match(self, resource: str) -> MatchKind | None:
        """How this permission's blocks cover a resource: everywhere, if one name is unreadable.

        The name it was meant to block cannot be told apart from any other any more, and a
        block that covers too much fails closed where one that covers too little would not.
        """
        match = self.match(resource)
        if match is None and self.unreadable_resources:
            return MatchKind.ANY_RESOURCE
        return match

    def is_active(self, now: datetime) -> bool:
        """Whether `not_before <= now < expires_at` (absent bounds are open)."""
        return (self.not_before is None or self.not_before <= now) and (
            self.expires_at is None or now < self.expires_at
        )


_INDEX_FROM = 16  # an agent with fewer permissions is scanned rather than indexed by action
_UNINDEXED: Mapping[str, tuple[PermissionEntry, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """One agent (None if only its permissions are known) and its permissions, indexed by action.

    `by_action` lists, sorted by permission id, every permission naming the action as allowed
    or blocked: exactly the permissions a decision about that action needs to look at. Agents
    with fewer than 16 permissions (almost all of them) keep no such index, which costs about
    100 bytes per permission: `naming` holds, position by position, the set of actions each
    permission names (allowed or blocked; sets shared across the snapshot), and a lookup scans
    it, so a decision reads only the entries that name its action. In a snapshot of a million
    permissions every entry read is a cache miss; the scan keeps a decision as fast as at 10k.
    """

    agent: AgentEntry | None
    permissions: tuple[PermissionEntry, ...]
    by_action: Mapping[str, tuple[PermissionEntry, ...]] = field(repr=False)
    naming: tuple[frozenset[str], ...] = field(default=(), repr=False)

    @classmethod
    def build(cls, agent: AgentEntry | None, permissions: Iterable[PermissionEntry]) -> AgentPolicy:
        """Sort the permissions by id and index them by action."""
        ordered = tuple(sorted(permissions, key=_by_id))
        if len(ordered) < _INDEX_FROM:
            naming = tuple([_names(p.allowed_actions, p.blocked_actions) for p in ordered])
            return cls(agent=agent, permissions=ordered, by_action=_UNINDEXED, naming=naming)
        by_action: dict[str, list[PermissionEntry]] = {}
        for permission in ordered:
            for action in permission.allowed_actions | permission.blocked_actions:
                by_action.setdefault(action, []).append(permission)
        index = {action: tuple(entries) for action, entries in by_action.items()}
        return cls(agent=agent, permissions=ordered, by_action=index)

    def for_action(self, action: str) -> tuple[PermissionEntry, ...]:
        """Permissions that allow or block `action`, sorted by permission id."""
        if self.by_action is _UNINDEXED:
            permissions = self.permissions
            return tuple([permissions[i] for i, names in enumerate(self.naming) if action in names])
        return self.by_action.get(action, ())


def _names(allowed: frozenset[str], blocked: frozenset[str]) -> frozenset[str]:
    """The actions a permission names; its allowed set itself when it blocks nothing."""
    return _union(allowed, blocked) if blocked else allowed


@lru_cache(maxsize=4096)
def _union(allowed: frozenset[str], blocked: frozenset[str]) -> frozenset[str]:
    """One shared set per distinct (allowed, blocked) pair, like the interned sets it joins."""
    return allowed | blocked


def _by_id(permission: PermissionEntry) -> str:
    return permission.permission_id


AgentKey = tuple[str, str]  # (tenant_id, agent_id)
PermissionKey = tuple[str, str]  # (tenant_id, permission_id)


@dataclass(frozen=True, slots=True, eq=False)
class PolicySnapshot:
    """The whole policy at one revision; never mutated, replaced by `apply_delta`."""

    revision: int
    agents: PersistentMap[AgentKey, AgentPolicy]
    permission_owners: PersistentMap[PermissionKey, str]

    def agent_policy(self, tenant_id: str, agent_id: str) -> AgentPolicy | None:
        """The agent's policy in this tenant; None for unknown ids and other tenants' agents."""
        return self.agents.get((tenant_id, agent_id))

    def in_test_mode(self, tenant_id: str, agent_id: str) -> bool:
        """Whether the tenant's agent is in manual test mode (False when unknown)."""
        policy = self.agents.get((tenant_id, agent_id))
        return policy is not None and policy.agent is not None and policy.agent.test_mode

    @property
    def permission_count(self) -> int:
        """Number of unrevoked permissions held."""
        return len(self.permission_owners)


def money_from_proto(message: common_pb2.Money) -> Money:
    """Convert a Money message."""
    return Money(amount_minor=message.amount_minor, currency=message.currency)


def agent_from_proto(message: resources_pb2.Agent, interner: Interner | None = None) -> AgentEntry:
    """Convert an Agent message (sharing its tenant id through `interner` when given)."""
    tenant_id = message.tenant_id
    return AgentEntry(
        tenant_id=interner.string(tenant_id) if interner is not None else tenant_id,
        agent_id=message.agent_id,
        disabled=message.disabled,
        revision=message.revision,
        test_mode=message.mode == resources_pb2.AGENT_MODE_TEST,
    )


# exact names, wildcards, any resource (`*`), some name unreadable
_Resources = tuple[ExactNames, tuple[str, ...], bool, bool]
_CATEGORIES = {category.value: category for category in ActionCategory}


def permission_from_proto(
    message: resources_pb2.Permission, interner: Interner | None = None
) -> PermissionEntry:
    """Convert a Permission message, normalizing its resource patterns defensively.

    Repeated values (ids of the tenant and agent, action sets, resource lists, limits, times)
    are shared through `interner`, which a snapshot build keeps for all its permissions.
    """
    share = interner if interner is not None else Interner()
    exact, wildcards, any_resource, unreadable = share.resources(message.resources, _resources)
    max_amount = (
        share.value(money_from_proto(message.max_amount))
        if message.HasField("max_amount")
        else None
    )
    budget = money_from_proto(message.budget) if message.HasField("budget") else None
    return PermissionEntry(
        permission_id=message.permission_id,
        tenant_id=share.string(message.tenant_id),
        agent_id=share.string(message.agent_id),
        allowed_actions=share.names(message.allowed_actions),
        blocked_actions=share.names(message.blocked_actions),
        exact_resources=exact,
        wildcard_resources=wildcards,
        any_resource=any_resource,
        max_amount=max_amount,
        budget=budget,
        budget_spent_minor=message.budget_spent_minor,
        not_before=share.time(message.not_before) if message.HasField("not_before") else None,
        expires_at=share.time(message.expires_at) if message.HasField("expires_at") else None,
        requires_approval=message.requires_approval,
        category=_CATEGORIES.get(message.category, ActionCategory.UNSPECIFIED),
        revision=message.revision,
        unreadable_resources=unreadable,
    )


def _resources(raws: tuple[str, ...]) -> _Resources:
    """Split a grant's resource patterns into exact names, wildcards and `*`; flag bad ones."""
    if len(raws) == 1:  # almost every grant: no sets to build
        return _one_resource(raws[0])
    exact: set[str] = set()
    wildcards: set[str] = set()
    any_resource = unreadable = False
    for raw in raws:
        try:
            pattern = normalize_pattern(raw)
        except InvalidResourceName:
            unreadable = True  # allows nothing, blocks everything (PermissionEntry.block_match)
            continue
        if pattern == ANY_RESOURCE:
            any_resource = True
        else:
            (wildcards if is_wildcard(pattern) else exact).add(pattern)
    return (
        (tuple(exact) if len(exact) == 1 else frozenset(exact)),
        tuple(sorted(wildcards)),
        any_resource,
        unreadable,
    )


_NO_NAMES: frozenset[str] = frozenset()
_UNREADABLE: _Resources = (_NO_NAMES, (), False, True)
_EVERYTHING: _Resources = (_NO_NAMES, (), True, False)


def _one_resource(raw: str) -> _Resources:
    try:
        pattern = normalize_pattern(raw)
    except InvalidResourceName:
        return _UNREADABLE  # allows nothing, blocks everything (PermissionEntry.block_match)
    if pattern == ANY_RESOURCE:
        return _EVERYTHING
    if is_wildcard(pattern):
        return _NO_NAMES, (pattern,), False, False
    return (pattern,), (), False, False


def snapshot_from_entries(
    revision: int, agents: Iterable[AgentEntry], permissions: Iterable[PermissionEntry]
) -> PolicySnapshot:
    """Build a snapshot from converted agents and unrevoked permissions."""
    agent_by_key: dict[AgentKey, AgentEntry] = {(a.tenant_id, a.agent_id): a for a in agents}
    grouped: dict[AgentKey, dict[str, PermissionEntry]] = {}
    owners: dict[PermissionKey, str] = {}
    for permission in permissions:
        grouped.setdefault((permission.tenant_id, permission.agent_id), {})[
            permission.permission_id
        ] = permission
        owners[(permission.tenant_id, permission.permission_id)] = permission.agent_id
    keys = agent_by_key.keys() | grouped.keys()
    policies = {
        key: AgentPolicy.build(agent_by_key.get(key), grouped.get(key, {}).values()) for key in keys
    }
    return PolicySnapshot(revision, PersistentMap(policies), PersistentMap(owners))


def build_snapshot(
    revision: int,
    agents: Iterable[resources_pb2.Agent],
    permissions: Iterable[resources_pb2.Permission],
) -> PolicySnapshot:
    """Build a snapshot from registry messages; revoked permissions are left out."""
    interner = Interner()
    return snapshot_from_entries(
        revision,
        (agent_from_proto(a, interner) for a in agents),
        (permission_from_proto(p, interner) for p in permissions if not p.revoked),
    )


@dataclass(slots=True)
class _AgentDraft:
    """A mutable working copy of one agent's policy while a delta is applied."""

    agent: AgentEntry | None
    permissions: dict[str, PermissionEntry]


def apply_delta(snapshot: PolicySnapshot, delta: internal_pb2.PolicyDelta) -> PolicySnapshot:
    """Return a new snapshot with the delta's changes; the given one is left untouched.

    A delta below the snapshot's revision was already applied and returns the same snapshot;
    one at its revision is applied (one revision may change several tenants, one delta each;
    the caller knows which it has applied, `policy_watch.PolicyState`). Revoking a permission
    removes it; deleting an agent removes its permissions too. Every object must belong to the
    delta's tenant.
    """
    if delta.revision < snapshot.revision:
        return snapshot
    tenant_id = delta.tenant_id
    owners = snapshot.permission_owners
    drafts: dict[str, _AgentDraft] = {}

    def draft(agent_id: str) -> _AgentDraft:
        if agent_id not in drafts:
            current = snapshot.agent_policy(tenant_id, agent_id)
            drafts[agent_id] = (
                _AgentDraft(current.agent, {p.permission_id: p for p in current.permissions})
                if current is not None
                else _AgentDraft(None, {})
            )
        return drafts[agent_id]

    def remove_permission(permission_id: str) -> None:
        nonlocal owners
        owner = owners.get((tenant_id, permission_id))
        if owner is not None:
            draft(owner).permissions.pop(permission_id, None)
            owners = owners.delete((tenant_id, permission_id))

    for change in delta.changes:
        kind = change.WhichOneof("change")
        if kind == "agent_upserted":
            _require_tenant(change.agent_upserted.tenant_id, tenant_id, delta.revision)
            draft(change.agent_upserted.agent_id).agent = agent_from_proto(change.agent_upserted)
        elif kind == "agent_deleted":
            gone = draft(change.agent_deleted)
            for permission_id in list(gone.permissions):
                remove_permission(permission_id)
            gone.agent = None
        elif kind == "permission_upserted":
            message = change.permission_upserted
            _require_tenant(message.tenant_id, tenant_id, delta.revision)
            remove_permission(message.permission_id)
            if not message.revoked:
                draft(message.agent_id).permissions[message.permission_id] = permission_from_proto(
                    message
                )
                owners = owners.set((tenant_id, message.permission_id), message.agent_id)
        elif kind == "permission_deleted":
            remove_permission(change.permission_deleted)
        else:
            raise InvalidDelta(f"delta at revision {delta.revision} has an empty change")

    agents = snapshot.agents
    for agent_id, working in drafts.items():
        key = (tenant_id, agent_id)
        if working.agent is None and not working.permissions:
            agents = agents.delete(key)
        else:
            agents = agents.set(key, AgentPolicy.build(working.agent, working.permissions.values()))
    return PolicySnapshot(delta.revision, agents, owners)


def _require_tenant(object_tenant: str, delta_tenant: str, revision: int) -> None:
    if object_tenant != delta_tenant:
        raise InvalidDelta(f"delta at revision {revision} changes an object of another tenant")
