"""Approval commands: `behalf approvals list|show|approve|deny`."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from behalf.cli._context import (
    Limit,
    PageToken,
    emit,
    enum_name,
    enum_value,
    money,
    rows,
    settings,
)
from behalf.v1 import registry_pb2, resources_pb2

approvals = typer.Typer(help="Human approvals of requests that need one.", no_args_is_help=True)

_APPROVAL_COLUMNS = (
    ("approval_id", lambda r: r.get("approval_id")),
    ("state", lambda r: enum_name(r.get("state"), "APPROVAL_STATE_")),
    ("agent_id", lambda r: r.get("agent_id")),
    ("action", lambda r: r.get("action")),
    ("resource", lambda r: r.get("resource")),
    ("amount", lambda r: money(r.get("amount"))),
    ("expire_time", lambda r: r.get("expire_time")),
)


@approvals.command("list")
def approvals_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="pending, approved, denied, …")] = None,
    agent: Annotated[str, typer.Option(help="Only this agent's")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """List approvals, newest first."""
    s = settings(ctx)
    request = registry_pb2.ListApprovalsRequest(
        state=enum_value(resources_pb2.ApprovalState, "APPROVAL_STATE_", state, "state"),  # type: ignore[arg-type]
        agent_id=agent,
        page_size=limit,
        page_token=page_token,
    )
    reply = s.call(s.registry_stub().ListApprovals, request)
    emit(s, reply, rows(reply, "approvals"), _APPROVAL_COLUMNS)


@approvals.command("show")
def approvals_show(ctx: typer.Context, approval_id: Annotated[str, typer.Argument()]) -> None:
    """Show one approval."""
    s = settings(ctx)
    request = registry_pb2.GetApprovalRequest(approval_id=approval_id)
    emit(s, s.call(s.registry_stub().GetApproval, request))


def _resolve(ctx: typer.Context, approval_id: str, approve: bool, by: str, comment: str) -> None:
    s = settings(ctx)
    request = registry_pb2.ResolveApprovalRequest(
        approval_id=approval_id, approve=approve, resolved_by=by or _whoami(), comment=comment
    )
    emit(s, s.call(s.registry_stub().ResolveApproval, request))


By = Annotated[str, typer.Option(help="Who decides (default: your user name)")]
Comment = Annotated[str, typer.Option(help="Why")]


@approvals.command("approve")
def approvals_approve(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument()],
    by: By = "",
    comment: Comment = "",
) -> None:
    """Approve a pending request (usable once, before it expires)."""
    _resolve(ctx, approval_id, True, by, comment)


@approvals.command("deny")
def approvals_deny(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument()],
    by: By = "",
    comment: Comment = "",
) -> None:
    """Deny a pending request."""
    _resolve(ctx, approval_id, False, by, comment)


def _whoami() -> str:
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"


def register(app: typer.Typer) -> None:
    """Add this group to the root app."""
    app.add_typer(approvals, name="approvals")
