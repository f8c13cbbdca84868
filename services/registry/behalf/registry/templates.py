"""The scope template catalogue: named, versioned presets that fill in a permission.

Versions are immutable once published: a change is a new version, and a grant records the
name and version it used. The catalogue is code, so every replica serves the same one.

A template fills in actions, limits and lifetime, never resources: every grant names its own
(at least one; "*" explicitly for any resource), so every template reports resources_required.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from behalf.v1 import common_pb2, resources_pb2

C = common_pb2
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ScopeTemplate:
    """One version of one template."""

    name: str
    version: int
    category: common_pb2.ActionCategory
    description: str
    allowed_actions: tuple[str, ...]
    blocked_actions: tuple[str, ...] = ()
    default_risk: common_pb2.Risk = C.RISK_LOW
    resources_required: bool = True
    amounts_apply: bool = False
    default_requires_approval: bool = False
    default_expires_in: timedelta | None = None

    def to_proto(self) -> resources_pb2.ScopeTemplate:
        message = resources_pb2.ScopeTemplate(
            name=self.name,
            version=self.version,
            category=self.category,
            description=self.description,
            allowed_actions=self.allowed_actions,
            blocked_actions=self.blocked_actions,
            default_risk=self.default_risk,
            resources_required=self.resources_required,
            amounts_apply=self.amounts_apply,
            default_requires_approval=self.default_requires_approval,
        )
        if self.default_expires_in is not None:
            message.default_expires_in.FromTimedelta(self.default_expires_in)
        return message


# What "read-only" blocks: a blocked action in any applicable permission wins (ARCHITECTURE
# §4 step 5), so a broader grant on the same resources cannot silently re-enable these.
READ_ONLY_BLOCKED = (
    "write_document",
    "edit_record",
    "update_crm_contact",
    "delete_records",
    "export_data",
)

CATALOGUE: tuple[ScopeTemplate, ...] = (
    ScopeTemplate(
        name="data_access.read",
        version=1,
        category=C.ACTION_CATEGORY_DATA_ACCESS,
        description="Read email, browse the web and query the CRM; nothing that writes.",
        allowed_actions=("read_email", "browse_web", "query_crm"),
        default_risk=C.RISK_LOW,
    ),
    ScopeTemplate(
        name="data_access.read",
        version=2,
        category=C.ACTION_CATEGORY_DATA_ACCESS,
        description=(
            "Read email, browse the web and query the CRM. Read-only: writing, editing, "
            "deleting and exporting are blocked on the same resources, whatever else is granted."
        ),
        allowed_actions=("read_email", "browse_web", "query_crm"),
        blocked_actions=READ_ONLY_BLOCKED,
        default_risk=C.RISK_LOW,
    ),
    ScopeTemplate(
        name="messaging.draft",
        version=1,
        category=C.ACTION_CATEGORY_MESSAGING,
        description="Draft messages for a human to send; sending is blocked.",
        allowed_actions=("draft_message",),
        blocked_actions=("send_email", "post_slack"),
        default_risk=C.RISK_LOW,
    ),
    ScopeTemplate(
        name="messaging.send",
        version=1,
        category=C.ACTION_CATEGORY_MESSAGING,
        description="Send email and post to Slack on the tenant's behalf.",
        allowed_actions=("send_email", "post_slack", "draft_message"),
        default_risk=C.RISK_MEDIUM,
    ),
    ScopeTemplate(
        name="messaging.send",
        version=2,
        category=C.ACTION_CATEGORY_MESSAGING,
        description=(
            "Send email and post to Slack on the tenant's behalf; each message needs a human "
            "approval unless the grant says otherwise."
        ),
        allowed_actions=("send_email", "post_slack", "draft_message"),
        default_risk=C.RISK_MEDIUM,
        default_requires_approval=True,
    ),
    ScopeTemplate(
        name="scheduling.assistant",
        version=1,
        category=C.ACTION_CATEGORY_SCHEDULING,
        description="Suggest times, create calendar events and book meetings.",
        allowed_actions=("suggest_times", "create_event", "book_meeting"),
        default_risk=C.RISK_LOW,
    ),
    ScopeTemplate(
        name="transactions.purchase",
        version=1,
        category=C.ACTION_CATEGORY_TRANSACTIONS,
        description="Buy from named vendors under a per-purchase limit; refunds blocked.",
        allowed_actions=("purchase",),
        blocked_actions=("issue_refund",),
        default_risk=C.RISK_HIGH,
        amounts_apply=True,
        default_expires_in=30 * _DAY,
    ),
    ScopeTemplate(
        name="transactions.purchase",
        version=2,
        category=C.ACTION_CATEGORY_TRANSACTIONS,
        description="Buy from and invoice named vendors under a per-action limit; refunds blocked.",
        allowed_actions=("purchase", "create_invoice"),
        blocked_actions=("issue_refund",),
        default_risk=C.RISK_HIGH,
        amounts_apply=True,
        default_expires_in=30 * _DAY,
    ),
    ScopeTemplate(
        name="transactions.refunds",
        version=1,
        category=C.ACTION_CATEGORY_TRANSACTIONS,
        description="Issue refunds through named vendors; each refund needs a human approval.",
        allowed_actions=("issue_refund",),
        default_risk=C.RISK_HIGH,
        amounts_apply=True,
        default_requires_approval=True,
        default_expires_in=7 * _DAY,
    ),
    ScopeTemplate(
        name="content.writer",
        version=1,
        category=C.ACTION_CATEGORY_CONTENT,
        description="Write documents, generate summaries and edit records.",
        allowed_actions=("write_document", "generate_summary", "edit_record"),
        default_risk=C.RISK_LOW,
    ),
    ScopeTemplate(
        name="admin_workflows.operator",
        version=1,
        category=C.ACTION_CATEGORY_ADMIN_WORKFLOWS,
        description="Update CRM contacts, manage tickets and run automations on named systems.",
        allowed_actions=("update_crm_contact", "manage_ticket", "run_automation"),
        blocked_actions=("delete_records",),
        default_risk=C.RISK_MEDIUM,
    ),
)


class Catalogue:
    """Lookup over a set of template versions."""

    def __init__(self, templates: Iterable[ScopeTemplate] = CATALOGUE) -> None:
        self._by_key = {(t.name, t.version): t for t in templates}
        self._latest: dict[str, ScopeTemplate] = {}
        for template in sorted(self._by_key.values(), key=lambda t: (t.name, t.version)):
            self._latest[template.name] = template

    def get(self, name: str, version: int = 0) -> ScopeTemplate | None:
        """The given version, or the latest when `version` is 0; None if unknown."""
        if version == 0:
            return self._latest.get(name)
        return self._by_key.get((name, version))

    def has_name(self, name: str) -> bool:
        return name in self._latest

    def list(self, category: int = 0, all_versions: bool = False) -> list[ScopeTemplate]:
        """Sorted by name then version; only the latest of each unless `all_versions`."""
        chosen = self._by_key.values() if all_versions else self._latest.values()
        return sorted(
            (t for t in chosen if category in (0, t.category)), key=lambda t: (t.name, t.version)
        )
