"""The `behalf` CLI on malformed input: one line on stderr naming the option, and exit code 3
(the documented "error"), never a Python traceback and never exit 1, which `behalf verify`
documents as "denied".

Every command here fails before any RPC is sent, so the targets point at a closed port and no
service is started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXIT_DENY, EXIT_ERROR = 1, 3
AGENT = "agt_" + "a" * 20


def _cli(
    tmp_path: Path, *args: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("behalf", path=str(Path(sys.executable).parent)) or "behalf"
    env = {
        **os.environ,
        "BEHALF_API_KEY": "bk_review_dummy_key",
        "BEHALF_REGISTRY": "127.0.0.1:1",
        "BEHALF_VERIFIER": "127.0.0.1:1",
        "BEHALF_DISPATCHER": "127.0.0.1:1",
        "BEHALF_CONFIG": str(config or tmp_path / "absent.toml"),
    }
    env.pop("BEHALF_PROFILE", None)
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _assert_clean_error(done: subprocess.CompletedProcess[str], names: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == EXIT_ERROR, (done.returncode, done.stderr)
    assert names in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args, names",
    [
        (("agents", "list", "--limit", "9999999999999"), "limit"),
        (("approvals", "list", "--limit", "-9999999999999"), "limit"),
        (("templates", "show", "x", "--version", "9999999999999"), "version"),
    ],
)
def test_out_of_range_integer_option_is_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], names: str
) -> None:
    """Past the proto field's range (or the page size's), the option is at fault; before, the
    protobuf constructor's `ValueError` ended in a traceback and exit 1."""
    _assert_clean_error(_cli(tmp_path, *args), names)


def test_verify_with_out_of_range_min_revision_does_not_exit_as_denied(tmp_path: Path) -> None:
    """`behalf verify` documents exit 0 allowed, 1 denied, 2 approval, 3 error. A --min-revision
    beyond int64 ended in a traceback and exit 1, which a script reads as "the verifier denied
    it", a decision that never happened."""
    done = _cli(tmp_path, "verify", AGENT, "purchase", "--min-revision", "1" + "0" * 24)
    assert done.returncode != EXIT_DENY, done.stderr
    _assert_clean_error(done, "min-revision")


@pytest.mark.parametrize(
    "args, names",
    [
        (
            ("permissions", "grant", AGENT, "--allow", "purchase", "--expires-in", "99999999999d"),
            "expires-in",
        ),
        (("decisions", "list", "--since", "99999999999d"), "since"),
        (("webhooks", "rotate", "whe_" + "a" * 20, "--overlap", "99999999999999999w"), "overlap"),
        (("passport", "export", AGENT, "--valid-for", "99999999999d"), "valid-for"),
    ],
)
def test_huge_duration_is_a_clear_error(tmp_path: Path, args: tuple[str, ...], names: str) -> None:
    """A duration no timedelta holds (an OverflowError before) is the option's fault."""
    _assert_clean_error(_cli(tmp_path, *args), names)


def test_passport_verify_of_a_missing_file_exits_3(tmp_path: Path) -> None:
    """`passport verify` documents "exit 0 valid, 3 invalid": a file that does not exist is
    exit 3 naming it, not a FileNotFoundError traceback."""
    missing = tmp_path / "no-such-envelope.json"
    _assert_clean_error(
        _cli(tmp_path, "passport", "verify", str(missing), "--public-key", "x"), "no-such-envelope"
    )


def test_malformed_profile_file_is_a_clear_error(tmp_path: Path) -> None:
    """A typo in the profile file (~/.config/behalf/config.toml) is one line naming the file on
    every command, not a TOMLDecodeError traceback."""
    config = tmp_path / "config.toml"
    config.write_text('[profiles.default\napi_key = "bk_x"\n')
    _assert_clean_error(_cli(tmp_path, "agents", "list", config=config), str(config))


def test_a_malformed_amount_names_the_field(tmp_path: Path) -> None:
    """A non-numeric or overflowing amount is one line naming `amount`, exit 3."""
    done = _cli(tmp_path, "permissions", "grant", AGENT, "--max-amount", "abc", "--currency", "USD")
    _assert_clean_error(done, "amount")
    done = _cli(tmp_path, "verify", AGENT, "purchase", "--amount", "1e99999", "--currency", "USD")
    _assert_clean_error(done, "amount")


def test_the_api_key_is_never_printed_on_a_failed_call(tmp_path: Path) -> None:
    """A key the transport refuses (a line break in it) fails with exit 3, and the key's text
    appears nowhere in the output."""
    exe = shutil.which("behalf", path=str(Path(sys.executable).parent)) or "behalf"
    secret = "bk_reviewSECRETvalue0123456789"
    env = {
        **os.environ,
        "BEHALF_API_KEY": secret + "\nX",
        "BEHALF_REGISTRY": "127.0.0.1:1",
        "BEHALF_CONFIG": str(tmp_path / "absent.toml"),
    }
    done = subprocess.run(
        [exe, "agents", "list"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == EXIT_ERROR, done.stderr
    assert "reviewSECRET" not in done.stdout + done.stderr
