"""Passport commands: `behalf passport export|verify` (verify checks offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from behalf import (
    PassportError,
    SignedPassport,
)
from behalf._passport import DEFAULT_MAX_AGE
from behalf.cli._context import (
    Settings,
    emit,
    parse_duration,
    settings,
    shown,
    stderr,
)
from behalf.v1 import registry_pb2

passport = typer.Typer(help="Signed passports: export and verify offline.", no_args_is_help=True)


@passport.command("export")
def passport_export(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id (agt_…)")],
    out: Annotated[Path | None, typer.Option(help="Write the envelope here")] = None,
    valid_for: Annotated[
        str | None, typer.Option(help="Signed validity, e.g. 24h; default 1h, at most 7d")
    ] = None,
) -> None:
    """Export an agent's signed passport as a JSON envelope (stdout or --out)."""
    s = settings(ctx)
    request = registry_pb2.ExportPassportRequest(agent_id=agent_id)
    if valid_for:
        request.valid_for.FromTimedelta(parse_duration(valid_for, "--valid-for"))
    reply = s.call(s.registry_stub().ExportPassport, request)
    signed = SignedPassport(reply.document, reply.signature, reply.key_id, reply.public_key)
    if out is None:
        print(signed.to_json())
        return
    out.write_text(signed.to_json() + "\n")
    expires = json.loads(reply.document).get("expires_at")
    wrote = f"wrote {out} (key {signed.key_id}, public key {signed.public_key}, expires {expires})"
    stderr.print(shown(wrote))


@passport.command("verify")
def passport_verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Envelope from `passport export` (- for stdin)")],
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Pinned registry key (base64url); default: the registry's published keys, "
            "fetched with the API key"
        ),
    ] = None,
    max_age: Annotated[
        str | None, typer.Option(help="Refuse if issued longer ago, e.g. 24h; default 1h")
    ] = None,
) -> None:
    """Check a passport's signature by a trusted key, its age and its expiry; exit 0 valid, 3
    invalid. The key inside the envelope is never trusted."""
    s = settings(ctx)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from None
    signed = SignedPassport.from_json(text)
    trusted: str | dict[str, str] = public_key or _published_passport_keys(s)
    checked = signed.verify(
        trusted, max_age=parse_duration(max_age, "--max-age") if max_age else DEFAULT_MAX_AGE
    )
    emit(
        s,
        {
            "valid": True,
            "agent_id": checked.agent_id,
            "tenant_id": checked.tenant_id,
            "revision": checked.revision,
            "issued_at": checked.issued_at.isoformat(),
            "expires_at": checked.expires_at.isoformat(),
            "key_id": checked.key_id,
            "permissions": list(checked.permissions),
        },
    )


def _published_passport_keys(s: Settings) -> dict[str, str]:
    """The registry's passport keys by key id, fetched with the configured API key."""
    if not s.api_key:
        raise PassportError(
            "no trusted key: pass --public-key, or an API key to fetch the registry's keys"
        )
    reply = s.call(s.registry_stub().ListPassportKeys, registry_pb2.ListPassportKeysRequest())
    return {key.key_id: key.public_key for key in reply.keys}


def register(app: typer.Typer) -> None:
    """Add this group to the root app."""
    app.add_typer(passport, name="passport")
