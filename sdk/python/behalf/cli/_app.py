"""The root `behalf` command: global options, one-line errors, exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from behalf import BehalfError
from behalf._transport import INSECURE_ENV, insecure_from_env, tls_credentials
from behalf.cli import _agents, _approvals, _decisions, _passports, _tenants, _webhooks
from behalf.cli._context import (
    DEFAULT_DISPATCHER,
    EXIT_ERROR,
    Settings,
    fail,
    profile_settings,
)

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    # Older typer raises click's own class; mypy sees the vendored one installed, a twin type.
    from click.exceptions import ClickException  # type: ignore[assignment]


class _Group(TyperGroup):
    """Errors as one line on stderr and exit code 3; `--json` accepted anywhere."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" in argv[1:]:
            argv = ["--json", *(a for a in argv if a != "--json")]
        options: dict[str, Any] = {
            "prog_name": prog_name,
            "complete_var": complete_var,
            "windows_expand_args": windows_expand_args,
            **extra,
        }
        if not standalone_mode:
            return super().main(argv, standalone_mode=False, **options)
        try:
            code = super().main(argv, standalone_mode=False, **options)
        except ClickException as exc:
            fail(exc.format_message())
            sys.exit(EXIT_ERROR)
        except BehalfError as exc:
            fail(exc.message)
            sys.exit(EXIT_ERROR)
        except (typer.Abort, KeyboardInterrupt):
            sys.exit(130)
        except Exception as exc:
            # Anything else is a bug of ours or an input nothing checked: still one line and
            # exit 3, never a traceback whose exit 1 a script would read as "denied".
            fail(f"{type(exc).__name__}: {exc}")
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="behalf",
    help="Operate Behalf: tenants, keys, agents, permissions, approvals, decisions, webhooks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    api_key: Annotated[str | None, typer.Option(help="API key (env BEHALF_API_KEY)")] = None,
    registry: Annotated[
        str | None, typer.Option(help="Registry host:port (env BEHALF_REGISTRY)")
    ] = None,
    verifier: Annotated[
        str | None, typer.Option(help="Verifier host:port (env BEHALF_VERIFIER)")
    ] = None,
    dispatcher: Annotated[
        str | None, typer.Option(help="Dispatcher host:port (env BEHALF_DISPATCHER)")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="Profile in $BEHALF_CONFIG or ~/.config/behalf/config.toml"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Deadline of each call, seconds")] = 10.0,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Plaintext gRPC even to non-loopback targets: keys cross the network in clear "
            f"(env {INSECURE_ENV}=1). Default: TLS unless the target is loopback",
        ),
    ] = False,
    ca_file: Annotated[
        str | None,
        typer.Option(help="PEM roots to trust; TLS to every target (env BEHALF_CA_FILE)"),
    ] = None,
) -> None:
    """Settings come from flags, then BEHALF_* environment variables, then the profile file."""
    file = profile_settings(profile)

    def pick(flag: str | None, env: str, key: str, default: str = "") -> str:
        return flag or os.environ.get(env) or file.get(key) or default

    try:
        plaintext = insecure or insecure_from_env()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    ca = pick(ca_file, "BEHALF_CA_FILE", "ca_file")
    try:
        credentials = tls_credentials(ca) if ca else None
    except OSError as exc:
        raise typer.BadParameter(f"cannot read the CA file {ca}: {exc.strerror}") from None
    s = Settings(
        api_key=pick(api_key, "BEHALF_API_KEY", "api_key"),
        registry=pick(registry, "BEHALF_REGISTRY", "registry", Settings.registry),
        verifier=pick(verifier, "BEHALF_VERIFIER", "verifier", Settings.verifier),
        dispatcher=pick(dispatcher, "BEHALF_DISPATCHER", "dispatcher", DEFAULT_DISPATCHER),
        service_token=pick(None, "BEHALF_SERVICE_TOKEN", "service_token"),
        timeout=timeout,
        json=json,
        insecure=plaintext,
        credentials=credentials,
    )
    ctx.obj = s


for commands in (_tenants, _agents, _approvals, _decisions, _webhooks, _passports):
    commands.register(app)
