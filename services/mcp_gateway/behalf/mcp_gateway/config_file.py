"""Reading the gateway's YAML file into `behalf.mcp_gateway.config`'s dataclasses.

Every error is a `ConfigError` naming the key at fault (`tools.buy_ticket.amount`). Unknown keys
are errors too: a misspelt `resouce` must not silently leave a tool unchecked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from behalf import InvalidRequest, Money
from behalf.mcp_gateway.config import (
    AmountMapping,
    ConfigError,
    CurrencyMapping,
    Extract,
    GatewayConfig,
    HttpServing,
    HttpUpstream,
    ResourceMapping,
    StdioUpstream,
    ToolPolicy,
    Units,
    Upstream,
    VerifierSettings,
)

__all__ = ["load_config", "parse_config"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STDIO_KEYS = ("name", "transport", "command", "args", "env", "inherit_env", "cwd", "tool_prefix")


def load_config(path: str | Path) -> GatewayConfig:
    """Read and check the YAML file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from None
    return parse_config(data)


def parse_config(data: object) -> GatewayConfig:
    """Check a parsed document and build the configuration."""
    root = _Section(data, "")
    root.only(
        "agent_id",
        "verifier",
        "upstreams",
        "tools",
        "unrestricted_tools",
        "hide_unpermitted_tools",
        "http",
    )
    tools = _tools(root.get("tools", {}), "tools")
    unrestricted = _names(root.get("unrestricted_tools", []), "unrestricted_tools")
    for name in sorted(unrestricted & tools.keys()):
        raise ConfigError(
            f"unrestricted_tools.{name}", "is also mapped under tools; a tool is one or the other"
        )
    upstreams = _upstreams(root.require("upstreams"), "upstreams")
    return GatewayConfig(
        agent_id=root.string("agent_id"),
        verifier=_verifier(root.require("verifier"), "verifier"),
        upstreams=upstreams,
        tools=tools,
        unrestricted_tools=unrestricted,
        hide_unpermitted_tools=root.boolean("hide_unpermitted_tools", False),
        http=_http(root.get("http", {}), "http"),
    )


class _Section:
    """A mapping being read, which knows where it is for error messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(where, f"must be a mapping, not {_kind(data)}")
        self.data: dict[Any, Any] = data
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def only(self, *keys: str) -> None:
        for key in self.data:
            if key not in keys:
                raise ConfigError(
                    self.at(str(key)), f"unknown key (expected one of {', '.join(keys)})"
                )

    def get(self, key: str, default: object = None) -> object:
        return self.data.get(key, default)

    def require(self, key: str) -> object:
        if self.data.get(key) is None:
            raise ConfigError(self.at(key), "is required")
        return self.data[key]

    def string(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise ConfigError(self.at(key), "is required")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(self.at(key), f"must be a non-empty string, not {_kind(value)}")
        return value.strip()

    def optional_string(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.string(key)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self.at(key), f"must be true or false, not {_kind(value)}")
        return value

    def env_name(self, key: str, default: str | None = None) -> str:
        value = self.string(key, default)
        if not _ENV_NAME.fullmatch(value):
            raise ConfigError(self.at(key), f"{value!r} is not an environment variable name")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.at(key), "must be a list of strings")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(self.at(key), "must map strings to strings")
        return dict(value)


def _verifier(data: object, where: str) -> VerifierSettings:
    section = _Section(data, where)
    section.only(
        "target", "registry_target", "api_key_env", "timeout_seconds", "insecure", "ca_file"
    )
    timeout = section.get("timeout_seconds", 2.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigError(section.at("timeout_seconds"), "must be a number of seconds in (0, 60]")
    ca_file = section.optional_string("ca_file")
    return VerifierSettings(
        target=section.string("target"),
        registry_target=section.string("registry_target"),
        api_key_env=section.env_name("api_key_env", "BEHALF_API_KEY"),
        timeout_seconds=float(timeout),
        insecure=section.boolean("insecure", False),
        ca_file=Path(ca_file) if ca_file else None,
    )


def _upstreams(data: object, where: str) -> tuple[Upstream, ...]:
    if not isinstance(data, list) or not data:
        raise ConfigError(where, "must be a non-empty list of upstream servers")
    upstreams: list[Upstream] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        section = _Section(item, f"{where}[{index}]")
        name = section.string("name")
        if not _NAME.fullmatch(name) or name in seen:
            raise ConfigError(section.at("name"), f"{name!r} must be a unique simple name")
        seen.add(name)
        section.where = f"{where}.{name}"
        transport = section.string("transport", "stdio")
        prefix = section.data.get("tool_prefix", "")
        if not isinstance(prefix, str):
            raise ConfigError(section.at("tool_prefix"), "must be a string")
        if transport == "stdio":
            section.only(*_STDIO_KEYS)
            cwd = section.optional_string("cwd")
            inherit = section.strings("inherit_env")
            for variable in inherit:
                if not _ENV_NAME.fullmatch(variable):
                    raise ConfigError(section.at("inherit_env"), f"{variable!r} is not a name")
            upstreams.append(
                StdioUpstream(
                    name=name,
                    command=section.string("command"),
                    args=section.strings("args"),
                    env=section.string_map("env"),
                    inherit_env=inherit,
                    cwd=Path(cwd) if cwd else None,
                    tool_prefix=prefix,
                )
            )
        elif transport == "http":
            section.only("name", "transport", "url", "headers", "headers_from_env", "tool_prefix")
            url = section.string("url")
            if not url.startswith(("http://", "https://")):
                raise ConfigError(section.at("url"), "must be an http:// or https:// URL")
            from_env = section.string_map("headers_from_env")
            for header, variable in from_env.items():
                if not _ENV_NAME.fullmatch(variable):
                    raise ConfigError(section.at(f"headers_from_env.{header}"), "not a name")
            upstreams.append(
                HttpUpstream(
                    name=name,
                    url=url,
                    headers=section.string_map("headers"),
                    headers_from_env=from_env,
                    tool_prefix=prefix,
                )
            )
        else:
            raise ConfigError(section.at("transport"), f"{transport!r} is not stdio or http")
    return tuple(upstreams)


def _tools(data: object, where: str) -> dict[str, ToolPolicy]:
    section = _Section(data, where)
    policies: dict[str, ToolPolicy] = {}
    for name, item in section.data.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(section.at(str(name)), "a tool name must be a non-empty string")
        policies[name] = _tool(name, item, section.at(name))
    return policies


def _tool(name: str, data: object, where: str) -> ToolPolicy:
    section = _Section(data, where)
    section.only("action", "resource", "amount", "currency", "unchecked_arguments")
    amount = _amount(section.get("amount"), section.at("amount"))
    currency = _currency(section.get("currency"), section.at("currency"))
    if amount is not None and currency is None:
        raise ConfigError(section.at("currency"), "is required with an amount")
    if currency is not None and amount is None:
        raise ConfigError(section.at("amount"), "is required with a currency")
    policy = ToolPolicy(
        tool=name,
        action=section.string("action"),
        resource=_resource(section.get("resource"), section.at("resource")),
        amount=amount,
        currency=currency,
        unchecked_arguments=frozenset(section.strings("unchecked_arguments")),
    )
    for argument in sorted(policy.unchecked_arguments & policy.checked_arguments()):
        raise ConfigError(
            section.at("unchecked_arguments"), f"{argument!r} is checked above; list it once"
        )
    if amount is not None and amount.times == amount.argument:
        raise ConfigError(section.at("amount.times"), "must name another argument than the amount")
    return policy


def _resource(data: object, where: str) -> ResourceMapping | None:
    if data is None:
        return None
    section = _Section(data, where)
    section.only("constant", "argument", "extract")
    constant, argument = section.optional_string("constant"), section.optional_string("argument")
    if (constant is None) == (argument is None):
        raise ConfigError(where, "needs exactly one of constant or argument")
    if constant is not None:
        if "extract" in section.data:
            raise ConfigError(section.at("extract"), "applies to an argument, not a constant")
        return ResourceMapping(constant=constant)
    extract = section.string("extract", "host")
    try:
        how = Extract(extract)
    except ValueError:
        choices = ", ".join(e.value for e in Extract)
        raise ConfigError(section.at("extract"), f"{extract!r} is not one of {choices}") from None
    return ResourceMapping(argument=argument, extract=how)


def _amount(data: object, where: str) -> AmountMapping | None:
    if data is None:
        return None
    section = _Section(data, where)
    section.only("argument", "units", "times")
    units = section.string("units", "major")
    try:
        unit = Units(units)
    except ValueError:
        raise ConfigError(section.at("units"), f"{units!r} is not major or minor") from None
    return AmountMapping(
        argument=section.string("argument"), units=unit, times=section.optional_string("times")
    )


def _currency(data: object, where: str) -> CurrencyMapping | None:
    if data is None:
        return None
    section = _Section(data, where)
    section.only("constant", "argument")
    constant, argument = section.optional_string("constant"), section.optional_string("argument")
    if (constant is None) == (argument is None):
        raise ConfigError(where, "needs exactly one of constant or argument")
    if constant is not None:
        try:
            constant = Money.of(0, constant).currency
        except InvalidRequest:
            raise ConfigError(section.at("constant"), f"{constant!r} is not ISO-4217") from None
    return CurrencyMapping(constant=constant, argument=argument)


def _names(data: object, where: str) -> frozenset[str]:
    if not isinstance(data, list) or not all(isinstance(v, str) and v for v in data):
        raise ConfigError(where, "must be a list of tool names")
    return frozenset(data)


def _http(data: object, where: str) -> HttpServing:
    section = _Section(data, where)
    section.only("host", "port", "path", "token_env")
    port = section.get("port", 8765)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(section.at("port"), "must be a port number, 1 to 65535")
    path = section.string("path", "/mcp")
    if not path.startswith("/"):
        raise ConfigError(section.at("path"), "must start with /")
    token_env = section.env_name("token_env") if section.get("token_env") is not None else None
    return HttpServing(
        host=section.string("host", "127.0.0.1"), port=port, path=path, token_env=token_env
    )


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
