"""From a tool call to the Verify question it stands for: action, resource, amount.

Pure. Whatever the agent put in the arguments, the answer is a question at least as specific
as the call (an argument that cannot be read exactly refuses the call with `ArgumentRejected`),
never a wider one: a missing resource or amount argument is not a call without a resource or
amount, a float is converted from its shortest decimal form, never rounded, a count multiplies
the amount, and an argument the policy neither reads nor lists as unchecked refuses the call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from behalf import InvalidRequest, Money
from behalf._money import AmountLike, is_currency, tool_amount
from behalf.mcp_gateway.config import (
    AmountMapping,
    CurrencyMapping,
    Extract,
    ResourceMapping,
    ToolPolicy,
    Units,
)
from behalf.mcp_gateway.resources import ArgumentRejected, email_domain, host_name, url_host

__all__ = ["Question", "question_for"]

_EXTRACTORS = {
    Extract.URL_HOST: url_host,
    Extract.EMAIL_DOMAIN: email_domain,
    Extract.HOST: host_name,
}


@dataclass(frozen=True)
class Question:
    """What Verify is asked about one call."""

    action: str
    resource: str
    amount: Money | None


def question_for(policy: ToolPolicy, arguments: Mapping[str, Any]) -> Question:
    """The Verify question for a call of `policy.tool` with `arguments`; `ArgumentRejected`
    (naming the argument) when an argument cannot be read exactly or is not the policy's."""
    allowed = policy.checked_arguments() | policy.unchecked_arguments
    for name in sorted(set(arguments) - allowed):
        raise ArgumentRejected(
            f"argument {name!r} is not one this gateway checks or lets through for this tool"
        )
    return Question(
        action=policy.action,
        resource=_resource(policy.resource, arguments),
        amount=_amount(policy.amount, policy.currency, arguments),
    )


def _resource(mapping: ResourceMapping | None, arguments: Mapping[str, Any]) -> str:
    if mapping is None:
        return ""
    if mapping.constant is not None:
        return mapping.constant
    assert mapping.argument is not None
    value = _argument(arguments, mapping.argument)
    try:
        return _EXTRACTORS[mapping.extract](value)
    except ArgumentRejected as exc:
        raise ArgumentRejected(f"argument {mapping.argument!r}: {exc}") from None


def _amount(
    amount: AmountMapping | None, currency: CurrencyMapping | None, arguments: Mapping[str, Any]
) -> Money | None:
    if amount is None or currency is None:
        return None
    code = currency.constant
    if code is None:
        assert currency.argument is not None
        given = _argument(arguments, currency.argument)
        # The tool receives the argument as it is: it must be the code Verify is asked about.
        if not isinstance(given, str) or not is_currency(given):
            raise ArgumentRejected(
                f"argument {currency.argument!r}: must be an ISO-4217 code as written, e.g. USD"
            )
        code = given
    value = _argument(arguments, amount.argument)
    count = 1 if amount.times is None else _count(arguments, amount.times)
    try:
        each = Money.of(_exact(value, amount.units, code), code)
        return each if count == 1 else Money.of(each.amount_minor * count, each.currency)
    except (InvalidRequest, TypeError) as exc:
        blamed = amount.argument
        if isinstance(exc, InvalidRequest) and exc.field == "currency" and currency.argument:
            blamed = currency.argument
        raise ArgumentRejected(f"argument {blamed!r}: {exc}") from None


def _exact(value: object, units: Units, currency: str) -> AmountLike:
    """The amount as the SDK takes it, read by the SDK's rule for a tool's amount
    (`behalf._money.tool_amount`: a whole number is major units), and a JSON number with a
    fraction as the shortest decimal that reads back as it (MCP arguments are plain JSON)."""
    if isinstance(value, float) and units is Units.MAJOR:
        if not math.isfinite(value):
            raise TypeError("an amount must be finite")
        return str(Decimal(repr(value)))
    return tool_amount(value, units.value, currency)


def _count(arguments: Mapping[str, Any], name: str) -> int:
    value = _argument(arguments, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArgumentRejected(f"argument {name!r}: a count must be a non-negative integer")
    return value


def _argument(arguments: Mapping[str, Any], name: str) -> object:
    if name not in arguments or arguments[name] is None:
        raise ArgumentRejected(f"argument {name!r} is required to check this call")
    return arguments[name]
