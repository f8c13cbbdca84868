"""CLI plumbing: settings from flags, environment or a profile file; stubs; output; parsing."""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table
from rich.text import Text

from behalf import AuthenticationError, BehalfError, Money
from behalf._client import DEFAULT_REGISTRY, DEFAULT_VERIFIER
from behalf._status import map_rpc_error
from behalf._transport import channel_credentials
from behalf.cli._stubs import DispatcherStub, RegistryStub, dispatcher_stub, registry_stub

T = TypeVar("T")

# Exit codes scripts can rely on (verify: 0 allow, 1 deny, 2 approval required).
EXIT_OK, EXIT_DENY, EXIT_APPROVAL, EXIT_ERROR = 0, 1, 2, 3
DEFAULT_DISPATCHER = "127.0.0.1:50053"
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_INT32, MAX_INT64 = 2**31 - 1, 2**63 - 1  # the proto fields' ranges
MAX_DURATION_SECONDS = 10 * 366 * 86400  # no option of ours means more than ten years

# Options every list command takes.
Limit = Annotated[int, typer.Option(help="Page size, 1..500", min=1, max=500)]
PageToken = Annotated[str, typer.Option(help="From a previous page")]

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def profile_settings(name: str | None) -> dict[str, str]:
    """`[profiles.<name>]` of $BEHALF_CONFIG or ~/.config/behalf/config.toml, if present."""
    path = Path(os.environ.get("BEHALF_CONFIG") or Path.home() / ".config/behalf/config.toml")
    if not path.is_file():
        if name:
            raise BehalfError(f"profile {name!r} asked for but {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BehalfError(f"cannot read {path}: {exc}") from None
    profiles = data.get("profiles", {})
    chosen = name or os.environ.get("BEHALF_PROFILE") or "default"
    if chosen not in profiles:
        if name:
            raise BehalfError(f"no profile {name!r} in {path}")
        return {}
    return {str(k): str(v) for k, v in profiles[chosen].items()}


@dataclass
class Settings:
    """Resolved CLI settings: flag, then environment, then profile, then default."""

    api_key: str = ""
    registry: str = DEFAULT_REGISTRY
    verifier: str = DEFAULT_VERIFIER
    dispatcher: str = DEFAULT_DISPATCHER
    service_token: str = ""
    timeout: float = 10.0
    json: bool = False
    insecure: bool = False  # plaintext even to non-loopback targets
    credentials: grpc.ChannelCredentials | None = None  # from --ca-file; wins over the rule
    _channels: dict[str, grpc.Channel] = field(default_factory=dict, repr=False)

    def channel(self, target: str) -> grpc.Channel:
        """TLS unless `target` is loopback or `--insecure` (the SDK's rule, `behalf._transport`)."""
        if target not in self._channels:
            creds = channel_credentials(target, self.credentials, insecure=self.insecure)
            if creds is None:
                self._channels[target] = grpc.insecure_channel(target)
            else:
                self._channels[target] = grpc.secure_channel(target, creds)
        return self._channels[target]

    def registry_stub(self) -> RegistryStub:
        return registry_stub(self.channel(self.registry))

    def dispatcher_stub(self) -> DispatcherStub:
        return dispatcher_stub(self.channel(self.dispatcher))

    def call(self, method: Callable[..., T], request: Message, *, key: str | None = None) -> T:
        """One RPC with the API key (or `key`) and the deadline; errors become BehalfError."""
        secret = key if key is not None else self.api_key
        if not secret:
            raise AuthenticationError("no API key: pass --api-key or set BEHALF_API_KEY")
        try:
            return method(
                request, metadata=(("authorization", f"Bearer {secret}"),), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise map_rpc_error(exc, type(request).__name__.removesuffix("Request")) from exc


def settings(ctx: typer.Context) -> Settings:
    """The settings the root callback stored."""
    value = ctx.find_root().obj
    assert isinstance(value, Settings)
    return value


def parse_duration(text: str, option: str) -> timedelta:
    """ "2h", "30m", "1h30m", "7d", "45s" or plain seconds, given as `option`."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise typer.BadParameter(
                f"{text!r} is not a duration like 2h, 30m, 1h30m, 7d", param_hint=option
            )
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds > MAX_DURATION_SECONDS:
        raise typer.BadParameter(f"{text!r} is longer than ten years", param_hint=option)
    return timedelta(seconds=seconds)


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time, or a duration meaning that long ago ("1h"), given as `option`."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC) - parse_duration(text, option)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    """["k=v", ...] as a dict."""
    result: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} {item!r} is not key=value")
        result[key] = value
    return result


def enum_value(enum: Any, prefix: str, name: str | None, what: str) -> int:
    """An enum's number from a friendly name ("audit-read" -> ROLE_AUDIT_READ)."""
    if not name:
        return 0
    full = prefix + name.upper().replace("-", "_")
    try:
        value: int = enum.Value(full)
    except ValueError as exc:
        choices = [
            n.removeprefix(prefix).lower() for n in enum.keys() if not n.endswith("_UNSPECIFIED")
        ]
        raise typer.BadParameter(f"{what} {name!r} is not one of {', '.join(choices)}") from exc
    return value


def rows(reply: Message, field: str) -> list[dict[str, Any]]:
    """The repeated message `field` of a list reply, each as JSON-ready data."""
    return [as_dict(item) for item in getattr(reply, field)]


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data with proto field names."""
    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result


def money(data: dict[str, Any] | None) -> str:
    """ "800.00 USD" from a Money dict, or ""."""
    if not data:
        return ""
    return str(Money(int(data.get("amount_minor", 0)), str(data.get("currency", ""))))


def emit(
    s: Settings,
    data: Message | dict[str, Any],
    rows: Iterable[dict[str, Any]] | None = None,
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]] = (),
    title: str | None = None,
) -> None:
    """`--json`: the whole reply as JSON. Otherwise a table of `rows`, or key: value lines."""
    payload = as_dict(data) if isinstance(data, Message) else data
    if s.json:
        # ASCII only: a bidi override or an escape in a stored name reaches the terminal as
        # \u202e, as it does in tables (print_json would write the character itself).
        print(json.dumps(payload, default=str, ensure_ascii=True, indent=2))
        return
    if rows is None:
        for key, value in payload.items():
            if isinstance(value, dict | list):
                value = json.dumps(value, default=str)
            stdout.print(Text.assemble((key, "bold"), ": ", shown(value)))
        return
    table = Table(title=title, show_lines=False)
    for name, _ in columns:
        table.add_column(name, overflow="fold")  # cut cells hide the end of a look-alike host
    for row in rows:
        table.add_row(*(shown(_cell(get(row))) for _, get in columns))
    stdout.print(table)


def shown(value: Any) -> Text:
    """Text from the server (much of it chosen by an agent) as it is: never read as rich markup
    (`[fe80::1]` is a style tag to rich), and a control or format character spelled out as
    `\\u202e` rather than sent to the terminal, where it could move the cursor or reorder what
    the human reads."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)
    return Text(text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def enum_name(value: str | None, prefix: str) -> str:
    """ "DENY" from "OUTCOME_DENY" (MessageToDict gives names)."""
    return (value or "").removeprefix(prefix)


def fail(message: str) -> None:
    """Print a one-line error to stderr."""
    print(f"behalf: error: {shown(message).plain}", file=sys.stderr)
