"""What callers hand the store and what it hands back, as plain values (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from behalf.common.callers import UNSCOPED, KeyScope, Role
from behalf.v1 import common_pb2


@dataclass(frozen=True)
class MoneyValue:
    """A validated amount."""

    amount_minor: int
    currency: str

    def to_proto(self) -> common_pb2.Money:
        return common_pb2.Money(amount_minor=self.amount_minor, currency=self.currency)


@dataclass(frozen=True)
class GrantSpec:
    """A validated permission grant, with the template (if any) already applied."""

    agent_id: str
    allowed_actions: tuple[str, ...]
    blocked_actions: tuple[str, ...]
    resources: tuple[str, ...]
    max_amount: MoneyValue | None
    budget: MoneyValue | None
    not_before: datetime | None
    expires_at: datetime | None
    requires_approval: bool
    template_name: str
    template_version: int
    category: common_pb2.ActionCategory


@dataclass(frozen=True)
class StoredKey:
    """The stored half of an API key, as the lookup by digest returns it."""

    key_id: str
    tenant_id: str
    role: Role
    secret_hash: bytes
    scope: KeyScope = UNSCOPED
