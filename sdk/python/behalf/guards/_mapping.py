"""From a tool call's arguments to the Verify question it stands for, by the MCP gateway's rules.

Pure. The agent writes every argument, so a call is refused before any Verify
(`ArgumentRejected`, naming the argument) when it carries an argument the mapping neither checks
nor lists in `unchecked_arguments`: the agent must not change what the call does (a quantity, a
currency, a recipient URL) beside what Verify was asked about. The checked arguments are the
ones the question's mapping callables (agent_id, action, resource, amount, currency) take as
named parameters (`resource=lambda vendor, **_: vendor` checks `vendor`), and the count named
by `times`. A whole number the amount mapping yields is major units unless `units="minor"`
(`behalf._money.tool_amount`), and the count multiplies it, so Verify is asked about the whole
charge.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from behalf._errors import InvalidRequest
from behalf._guard import NO_REQUEST_ID
from behalf._money import UNITS, Money, Units, is_currency, tool_amount

__all__ = ["ArgumentRejected", "ToolMapping"]

# The options whose callables make the question Verify decides on: the arguments they read are
# the checked ones. context, min_revision and approval_id are asked with it, but decide nothing
# about what the tool does.
QUESTION = ("agent_id", "action", "resource", "amount", "currency")
OTHER = ("context", "min_revision", "approval_id")


class ArgumentRejected(InvalidRequest):
    """The call carries an argument the guard cannot let through: not checked, not listed as
    unchecked, or not readable exactly; `.argument` names it."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"argument {argument!r} {problem}", field=argument)
        self.argument = argument


class ToolMapping:
    """How one tool's calls become a Verify question; see the module docstring. `options` are
    the question's fields, each a value or a callable that receives the arguments as keywords."""

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        unchecked_arguments: Iterable[str] = (),
        times: str | None = None,
        units: Units = "major",
    ) -> None:
        if "request_id" in options:
            raise TypeError(NO_REQUEST_ID)
        unknown = set(options) - set(QUESTION) - set(OTHER)
        if unknown:
            raise TypeError(f"unknown guard options: {', '.join(sorted(unknown))}")
        if isinstance(unchecked_arguments, str) or not all(
            isinstance(name, str) for name in unchecked_arguments
        ):
            raise TypeError("unchecked_arguments must be a list of argument names")
        if times is not None and not isinstance(times, str):
            raise TypeError("times must name the count argument")
        if units not in UNITS:
            raise TypeError(f"units must be one of {', '.join(UNITS)}, not {units!r}")
        self._options = dict(options)
        self._times = times
        self._units = units
        self.unchecked_arguments = frozenset(unchecked_arguments)
        read = {name for field in QUESTION for name in _parameters(options.get(field))}
        self.checked_arguments = frozenset(read | ({times} if times else set()))
        self._allowed = self.checked_arguments | self.unchecked_arguments

    def check(self, arguments: Mapping[str, Any]) -> None:
        """`ArgumentRejected` for the first argument (by name) that is neither checked nor
        listed as unchecked."""
        for name in sorted(set(arguments) - self._allowed):
            raise ArgumentRejected(name, "is not one this guard checks or lets through")

    def question(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The options of `verify` for a call with `arguments` (already `check`ed)."""
        question = {
            name: value(**arguments) if callable(value) else value
            for name, value in self._options.items()
        }
        currency = question.get("currency")
        if isinstance(currency, str) and not is_currency(currency):
            # The tool receives the argument as it is: it must be the code Verify is asked about.
            raise ArgumentRejected("currency", "must be an ISO-4217 code as written, e.g. USD")
        amount = question.get("amount")
        if amount is not None:
            question["amount"] = self._amount(amount, question.get("currency"), arguments)
        elif self._times is not None:
            raise ArgumentRejected(self._times, "counts an amount, and the call has none")
        return question

    def _amount(self, value: object, currency: object, arguments: Mapping[str, Any]) -> object:
        exact = tool_amount(value, self._units, currency if isinstance(currency, str) else None)
        if self._times is None:
            return exact
        count = _count(arguments, self._times)
        if isinstance(exact, Money):
            each = exact
        elif isinstance(currency, str):
            each = Money.of(exact, currency)
        else:
            raise InvalidRequest("currency is required with an amount", field="currency")
        return Money(each.amount_minor * count, each.currency)


def _parameters(option: object) -> frozenset[str]:
    """The argument names a mapping callable takes by keyword; none for a value."""
    if not callable(option):
        return frozenset()
    try:
        parameters = inspect.signature(option).parameters.values()
    except (TypeError, ValueError):  # no signature to read: it names nothing
        return frozenset()
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in parameters if p.kind in by_name)


def _count(arguments: Mapping[str, Any], name: str) -> int:
    value = arguments.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArgumentRejected(name, "must be a non-negative integer count")
    return value
