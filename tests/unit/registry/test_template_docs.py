"""docs/templates.md lists every version of every scope template as the catalogue defines it,
so the documented defaults cannot drift from the ones the registry applies."""

from __future__ import annotations

from pathlib import Path

from behalf.registry.templates import CATALOGUE, READ_ONLY_BLOCKED, Catalogue, ScopeTemplate
from behalf.v1 import common_pb2

DOC = Path(__file__).resolve().parents[3] / "docs" / "templates.md"


def row(template: ScopeTemplate) -> str:
    """The table row docs/templates.md must contain for `template`."""
    expires = f"{template.default_expires_in.days} days" if template.default_expires_in else "never"
    risk = common_pb2.Risk.Name(template.default_risk).removeprefix("RISK_").lower()
    cells = [
        f"`{template.name}` v{template.version}",
        ", ".join(template.allowed_actions),
        ", ".join(template.blocked_actions) or "—",
        "required" if template.default_requires_approval else "not required",
        expires,
        risk,
        "yes" if template.amounts_apply else "no",
    ]
    return "| " + " | ".join(cells) + " |"


def test_every_template_version_is_documented_as_defined():
    text = DOC.read_text()
    missing = [row(t) for t in CATALOGUE if row(t) not in text]
    assert not missing, "docs/templates.md is out of date; expected rows:\n" + "\n".join(missing)


def test_the_brief_defaults_hold_in_the_latest_versions():
    catalogue = Catalogue()
    read = catalogue.get("data_access.read")
    assert read is not None and set(READ_ONLY_BLOCKED) <= set(read.blocked_actions)
    assert not set(read.allowed_actions) & set(READ_ONLY_BLOCKED)
    for name in ("messaging.send", "transactions.refunds"):
        template = catalogue.get(name)
        assert template is not None and template.default_requires_approval, name
