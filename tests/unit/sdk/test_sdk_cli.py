"""The CLI without a stack: exit codes of `verify` against the scripted server, one-line errors,
`--json` anywhere, and duration parsing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import pytest
import typer
from typer.testing import CliRunner

from behalf.cli import app
from behalf.cli._context import Settings, emit, parse_duration
from tests.unit.sdk.fake_server import Fake, decision

runner = CliRunner()


async def _invoke(*args: str, env: dict[str, str] | None = None):
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


@pytest.mark.parametrize(
    ("step", "code"),
    [
        (decision("ALLOW"), 0),
        (decision("DENY", "AMOUNT_EXCEEDS_LIMIT"), 1),
        (decision("REQUIRE_APPROVAL", "APPROVAL_REQUIRED", approval_id="apr_1"), 2),
        (grpc.StatusCode.UNAUTHENTICATED, 3),
        (grpc.StatusCode.INTERNAL, 3),
    ],
)
async def test_verify_exit_codes(fake: Fake, step, code: int) -> None:
    """verify exits 0 allow, 1 deny, 2 approval required, 3 error."""
    fake.script(step)
    result = await _invoke(
        "verify",
        "agt_1",
        "purchase",
        "--amount",
        "799.99",
        "--currency",
        "USD",
        env={"BEHALF_API_KEY": "k", "BEHALF_VERIFIER": fake.target},
    )
    assert result.exit_code == code, result.output
    if code < 3:
        assert fake.requests[-1].amount.amount_minor == 79999


async def test_verify_json_output_parses(fake: Fake) -> None:
    """`--json` after the subcommand still works, and prints the decision as JSON."""
    fake.script(decision("DENY", "NO_PERMISSION", request_id="req_7"))
    result = await _invoke(
        "verify",
        "agt_1",
        "purchase",
        "--json",
        "--request-id",
        "req_7",
        env={"BEHALF_API_KEY": "k", "BEHALF_VERIFIER": fake.target},
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["outcome"], data["reason_code"], data["request_id"]) == (
        "DENY",
        "NO_PERMISSION",
        "req_7",
    )


def test_bad_flag_is_one_line_and_exit_3() -> None:
    """An unknown flag prints one line on stderr and exits 3."""
    result = runner.invoke(app, ["agents", "list", "--bogus"])
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0
    assert "--bogus" in result.stderr


def test_float_like_amount_with_too_many_decimals_is_an_error() -> None:
    """An amount the currency cannot hold is refused before any call."""
    result = runner.invoke(
        app,
        ["verify", "agt_1", "purchase", "--amount", "1.001", "--currency", "USD"],
        env={"BEHALF_API_KEY": "k", "BEHALF_VERIFIER": "127.0.0.1:1"},
    )
    assert result.exit_code == 3
    assert "decimals" in result.stderr


def test_durations() -> None:
    """2h, 30m, 1h30m, 7d and plain seconds parse; nonsense does not."""
    assert parse_duration("2h", "--ttl") == timedelta(hours=2)
    assert parse_duration("1h30m", "--ttl") == timedelta(minutes=90)
    assert parse_duration("7d", "--ttl") == timedelta(days=7)
    assert parse_duration("45", "--ttl") == timedelta(seconds=45)
    for nonsense in ("2 hours", "99999999999d", "3660w"):
        with pytest.raises(typer.BadParameter) as refused:
            parse_duration(nonsense, "--ttl")
        assert refused.value.param_hint == "--ttl"


def test_webhook_list_columns_show_health() -> None:
    """`webhooks list` shows the success rate over the attempts, the breaker and the last
    error, and blanks for an endpoint no dispatcher has reported on."""
    from behalf.cli._context import as_dict
    from behalf.cli._webhooks import _ENDPOINT_COLUMNS
    from behalf.v1 import resources_pb2

    reported = resources_pb2.WebhookEndpoint(
        endpoint_id="whe_1",
        health=resources_pb2.WebhookEndpointHealth(
            attempts=200,
            successes=199,
            success_rate=0.995,
            last_error="HTTP 503",
            breaker_state=resources_pb2.BREAKER_STATE_HALF_OPEN,
        ),
    )
    columns = dict(_ENDPOINT_COLUMNS)
    row = as_dict(reported)
    assert (columns["success"](row), columns["breaker"](row), columns["last_error"](row)) == (
        "99.5% of 200",
        "HALF_OPEN",
        "HTTP 503",
    )
    quiet = as_dict(resources_pb2.WebhookEndpoint(endpoint_id="whe_2"))
    assert (columns["success"](quiet), columns["breaker"](quiet)) == ("", "")


def test_server_text_is_shown_as_it_is_never_as_markup_or_terminal_control() -> None:
    """A host like `[fe80::1]` is a rich style tag, and ESC, bidi overrides and newlines drive
    the terminal: what an agent chose is printed literally, controls spelled out."""
    from rich.console import Console

    from behalf.cli._context import shown

    console = Console(width=200, record=True, color_system=None)
    console.print(shown("[fe80::1]"))
    console.print(shown("\x1b]8;;https://evil.example\x07refund\u202eDSU 00.21\nnext"))
    assert console.export_text() == (
        "[fe80::1]\n\\u001b]8;;https://evil.example\\u0007refund\\u202eDSU 00.21\\u000anext\n"
    )


def test_json_output_spells_out_characters_that_drive_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--json` prints ASCII: a bidi override or an escape in a stored string reaches the
    terminal as `\\u202e`, as it does in tables, and the output still parses to the text."""
    stored = {"name": "refund \u202eexe.gnp\x1b[8m"}
    emit(Settings(json=True), stored)
    printed = capsys.readouterr().out
    assert printed.isascii() and "\\u202e" in printed and "\\u001b" in printed
    assert json.loads(printed) == stored
