"""The gateway's configuration: typed, frozen dataclasses read from one YAML file.

    agent_id: agt_...                  # whose passport every call is checked against
    verifier:
      target: 127.0.0.1:50052          # gRPC Verify
      registry_target: 127.0.0.1:50051 # approvals are read here
      api_key_env: BEHALF_API_KEY      # the verify key comes from this variable, never the file
      timeout_seconds: 2
      insecure: false                  # plaintext to a non-loopback target
      ca_file: null                    # PEM roots for TLS
    upstreams:
      - name: shop
        transport: stdio               # or http (streamable HTTP): url, headers, headers_from_env
        command: python
        args: [shop.py]
        env: {}                        # literal variables; inherit_env: names copied from ours
    tools:
      buy_ticket:
        action: purchase
        resource: {argument: url, extract: url_host}   # or email_domain, host; or {constant: x}
        amount: {argument: price, times: quantity}      # major units; units: minor for integers
        currency: {constant: USD}                       # or {argument: currency}
        unchecked_arguments: [note]                     # any other argument refuses the call
    unrestricted_tools: [search_events]
    hide_unpermitted_tools: false
    http: {host: 127.0.0.1, port: 8765, path: /mcp, token_env: null}

The file is read and checked by `behalf.mcp_gateway.config_file`; every error is a
`ConfigError` naming the place it was found (`tools.buy_ticket.amount`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AmountMapping",
    "ConfigError",
    "CurrencyMapping",
    "Extract",
    "GatewayConfig",
    "HttpServing",
    "HttpUpstream",
    "ResourceMapping",
    "StdioUpstream",
    "ToolPolicy",
    "Units",
    "Upstream",
    "VerifierSettings",
    "environ_value",
]


class ConfigError(ValueError):
    """The configuration is not usable; `where` names the key at fault."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class Extract(enum.Enum):
    """How a resource is read from a string argument."""

    URL_HOST = "url_host"  # the host of an http(s) URL
    EMAIL_DOMAIN = "email_domain"  # the domain of one plain address
    HOST = "host"  # a bare host name


class Units(enum.Enum):
    """What an amount argument counts."""

    MAJOR = "major"  # 799.99 (number or string), converted exactly with the currency's exponent
    MINOR = "minor"  # 79999 (integer)


@dataclass(frozen=True)
class ResourceMapping:
    """The resource: a constant, or taken from `argument` with `extract`."""

    constant: str | None = None
    argument: str | None = None
    extract: Extract = Extract.HOST


@dataclass(frozen=True)
class AmountMapping:
    """The amount, from `argument`, in `units`; for a tool that also takes a count (a quantity),
    multiplied by the count in `times`, so Verify is asked about the whole charge."""

    argument: str
    units: Units = Units.MAJOR
    times: str | None = None


@dataclass(frozen=True)
class CurrencyMapping:
    """The currency: a constant ISO-4217 code, or taken from `argument`."""

    constant: str | None = None
    argument: str | None = None


@dataclass(frozen=True)
class ToolPolicy:
    """How one tool's calls become a Verify question."""

    tool: str
    action: str
    resource: ResourceMapping | None = None
    amount: AmountMapping | None = None
    currency: CurrencyMapping | None = None
    # Arguments forwarded without any check. A call carrying an argument that is neither read
    # by the mappings above nor listed here is refused: the agent must not be able to change
    # what a call does (a quantity, a recipient) beside what Verify was asked about.
    unchecked_arguments: frozenset[str] = frozenset()

    def checked_arguments(self) -> frozenset[str]:
        """The arguments the mappings read."""
        names = [
            self.resource.argument if self.resource else None,
            self.amount.argument if self.amount else None,
            self.amount.times if self.amount else None,
            self.currency.argument if self.currency else None,
        ]
        return frozenset(name for name in names if name)


@dataclass(frozen=True)
class VerifierSettings:
    """Where and how the gateway asks Verify."""

    target: str
    registry_target: str
    api_key_env: str = "BEHALF_API_KEY"
    timeout_seconds: float = 2.0
    insecure: bool = False
    ca_file: Path | None = None


@dataclass(frozen=True)
class StdioUpstream:
    """An upstream MCP server the gateway runs as a child process."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: tuple[str, ...] = ()
    cwd: Path | None = None
    tool_prefix: str = ""


@dataclass(frozen=True)
class HttpUpstream:
    """An upstream MCP server reached over streamable HTTP."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    headers_from_env: Mapping[str, str] = field(default_factory=dict)
    tool_prefix: str = ""


Upstream = StdioUpstream | HttpUpstream


@dataclass(frozen=True)
class HttpServing:
    """Where `--transport http` listens; clients must send the token from `token_env`."""

    host: str = "127.0.0.1"
    port: int = 8765
    path: str = "/mcp"
    token_env: str | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """The whole configuration."""

    agent_id: str
    verifier: VerifierSettings
    upstreams: tuple[Upstream, ...]
    tools: Mapping[str, ToolPolicy]
    unrestricted_tools: frozenset[str] = frozenset()
    hide_unpermitted_tools: bool = False
    http: HttpServing = HttpServing()


def environ_value(name: str, where: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of a variable the configuration names, or a `ConfigError` saying it is unset."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise ConfigError(where, f"environment variable {name} is not set")
    return value
