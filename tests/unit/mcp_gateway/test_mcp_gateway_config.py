"""The gateway's YAML configuration: typed values, and errors that name the key at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from behalf.mcp_gateway.config import (
    ConfigError,
    Extract,
    HttpUpstream,
    StdioUpstream,
    Units,
    environ_value,
)
from behalf.mcp_gateway.config_file import load_config, parse_config


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "agent_id": "agt_1",
        "verifier": {"target": "127.0.0.1:50052", "registry_target": "127.0.0.1:50051"},
        "upstreams": [{"name": "shop", "command": "python", "args": ["shop.py"]}],
        "tools": {
            "buy_ticket": {
                "action": "purchase",
                "resource": {"argument": "url", "extract": "url_host"},
                "amount": {"argument": "price"},
                "currency": {"constant": "usd"},
            }
        },
    }
    config.update(overrides)
    return config


def _error(config: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    return caught.value


def test_a_full_config_becomes_typed_values():
    """Tools, upstreams and verifier settings come out as dataclasses with defaults filled in."""
    config = parse_config(
        _config(
            upstreams=[
                {"name": "shop", "command": "python", "args": ["shop.py"], "env": {"A": "1"}},
                {"name": "mail", "transport": "http", "url": "https://mail.example/mcp"},
            ],
            unrestricted_tools=["search"],
        )
    )
    tool = config.tools["buy_ticket"]
    assert tool.resource is not None and tool.resource.extract is Extract.URL_HOST
    assert tool.amount is not None and tool.amount.units is Units.MAJOR
    assert tool.currency is not None and tool.currency.constant == "USD"
    assert isinstance(config.upstreams[0], StdioUpstream) and config.upstreams[0].env == {"A": "1"}
    assert isinstance(config.upstreams[1], HttpUpstream)
    assert config.verifier.api_key_env == "BEHALF_API_KEY"
    assert config.unrestricted_tools == {"search"}
    assert config.hide_unpermitted_tools is False and config.http.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"agent_id": ""}, "agent_id", "non-empty string"),
        ({"verifier": None}, "verifier", "required"),
        ({"upstreams": []}, "upstreams", "non-empty list"),
        (
            {"tools": {"buy_ticket": {"action": "purchase", "resouce": {}}}},
            "tools.buy_ticket.resouce",
            "unknown key",
        ),
        (
            {"tools": {"buy_ticket": {"resource": {"constant": "x.com"}}}},
            "tools.buy_ticket.action",
            "required",
        ),
        (
            {"tools": {"t": {"action": "a", "resource": {"argument": "u", "extract": "domain"}}}},
            "tools.t.resource.extract",
            "not one of url_host, email_domain, host",
        ),
        (
            {"tools": {"t": {"action": "a", "resource": {"argument": "u", "constant": "x"}}}},
            "tools.t.resource",
            "exactly one of",
        ),
        (
            {"tools": {"t": {"action": "a", "amount": {"argument": "p"}}}},
            "tools.t.currency",
            "required with an amount",
        ),
        (
            {
                "tools": {
                    "t": {
                        "action": "a",
                        "amount": {"argument": "p"},
                        "currency": {"constant": "DOLLARS"},
                    }
                }
            },
            "tools.t.currency.constant",
            "ISO-4217",
        ),
        (
            {
                "tools": {
                    "t": {
                        "action": "a",
                        "amount": {"argument": "p", "units": "cents"},
                        "currency": {"constant": "USD"},
                    }
                }
            },
            "tools.t.amount.units",
            "major or minor",
        ),
        (
            {"unrestricted_tools": ["buy_ticket"]},
            "unrestricted_tools.buy_ticket",
            "one or the other",
        ),
        (
            {"upstreams": [{"name": "s", "transport": "sse", "url": "x"}]},
            "upstreams.s.transport",
            "not stdio or http",
        ),
        (
            {"upstreams": [{"name": "s", "transport": "http", "url": "ftp://x"}]},
            "upstreams.s.url",
            "http",
        ),
        ({"upstreams": [{"name": "s"}]}, "upstreams.s.command", "required"),
        (
            {"verifier": {"target": "t", "registry_target": "r", "api_key_env": "MY KEY"}},
            "verifier.api_key_env",
            "not an environment variable",
        ),
        ({"http": {"port": 70000}}, "http.port", "port number"),
        ({"hide_unpermitted_tools": "yes"}, "hide_unpermitted_tools", "true or false"),
        (
            {"tools": {"t": {"action": "a", "unchecked_arguments": "note"}}},
            "tools.t.unchecked_arguments",
            "list of strings",
        ),
        (
            {
                "tools": {
                    "t": {
                        "action": "a",
                        "resource": {"argument": "url"},
                        "unchecked_arguments": ["url"],
                    }
                }
            },
            "tools.t.unchecked_arguments",
            "checked above",
        ),
        (
            {
                "tools": {
                    "t": {
                        "action": "a",
                        "amount": {"argument": "p", "times": "p"},
                        "currency": {"constant": "USD"},
                    }
                }
            },
            "tools.t.amount.times",
            "another argument",
        ),
    ],
)
def test_errors_name_the_key_at_fault(change: dict[str, Any], where: str, words: str):
    """Each mistake is reported with the dotted path of the key and what is wrong with it."""
    error = _error(_config(**change))
    assert error.where == where
    assert words in str(error) and str(error).startswith(where)


def test_a_count_and_unchecked_arguments_are_read():
    tool = _config()["tools"]["buy_ticket"]
    tool["amount"]["times"] = "quantity"
    tool["unchecked_arguments"] = ["note"]
    policy = parse_config(_config(tools={"buy_ticket": tool})).tools["buy_ticket"]
    assert policy.amount is not None and policy.amount.times == "quantity"
    assert policy.unchecked_arguments == {"note"}
    assert policy.checked_arguments() == {"url", "price", "quantity"}


def test_a_document_that_is_not_a_mapping_is_refused():
    """An empty file or a list at the top is a clear error, not a crash."""
    assert "must be a mapping" in str(_error(None))
    assert "must be a mapping" in str(_error([1, 2]))


def test_load_config_reports_bad_yaml_and_missing_files(tmp_path: Path):
    """Unreadable or invalid YAML files become ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tools: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_a_secret_comes_from_the_environment_and_its_absence_is_named():
    """The verify key is read from the named variable; an unset one names the variable, and
    the error never carries a value."""
    assert environ_value("KEY", "verifier.api_key_env", {"KEY": "bhk_secret"}) == "bhk_secret"
    with pytest.raises(ConfigError, match="KEY is not set"):
        environ_value("KEY", "verifier.api_key_env", {})
