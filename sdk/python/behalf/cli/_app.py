"""The root `behalf` command: global options, one-line errors, exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from behalf._exceptions import BehalfError
from behalf._transport import INSECURE_ENV, insecure_from_env, tls_credentials
from behalf.cli import _ops, _policy
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
    from click.exceptions import ClickException  # type: ignore[no-redef,import-not-found]


class _Group(TyperGroup):
    """Errors as one line on stderr and exit code 3; `--json` accepted anywhere."""

    def main(self, args: Any = None, *pos: Any, standalone_mode: bool = True, **kw: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" in argv[1:]:
            argv = ["--json", *(a for a in argv if a != "--json")]
        if not standalone_mode:
            return super().main(argv, *pos, standalone_mode=False, **kw)
        try:
            code = super().main(argv, *pos, standalone_mode=False, **kw)
        except ClickException as exc:
            fail(exc.format_message())
            sys.exit(EXIT_ERROR)
        except BehalfError as exc:
            fail(exc.message)
            sys.exit(EXIT_ERROR)
        except (typer.Abort, KeyboardInterrupt):
            sys.exit(130)
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


_policy.register(app)
_ops.register(app)
