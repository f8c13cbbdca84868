"""One action grammar and one currency table: the registry, the verifier, the console and both
SDKs accept exactly the same actions and currencies, near misses included, and read major units
with the same ISO-4217 exponents.

The TypeScript SDK checks tests/cases/grammar_cases.json (sdk/typescript/test/unit/
grammar.test.ts); this file checks that fixture still holds the Python verdicts. Regenerate it
with `.venv/bin/python -m tests.unit.test_shared_grammars`.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from behalf import InvalidRequest
from behalf._verify import build_verify_request
from behalf.common.actions import ACTION_PATTERN, MAX_ACTION_LENGTH, is_action
from behalf.common.currencies import ISO_4217, is_currency, minor_unit_exponent
from behalf.common.errors import InvalidArgument
from behalf.console import forms
from behalf.registry import validation as registry
from behalf.v1 import common_pb2, verifier_pb2
from behalf.verifier.validation import validate_verify

FIXTURE = Path(__file__).resolve().parents[1] / "cases" / "grammar_cases.json"
AGENT = "agt_" + "a" * 20
CODES = sorted(ISO_4217)
# Characters that look like, or case-fold into, ASCII letters and digits.
LOOKALIKES = (
    "\u0430\u0435\u0456\u043e\u0440\u0441\u0445"  # Cyrillic a e i o p c x
    "\u0410\u0412\u0421\u0415\u041d\u041a\u041c\u041e\u0420\u0422\u0425"  # A B C E H K M O P T X
    "\u017f\u0131\u0130\u212a"  # long s, dotless i, dotted I, Kelvin sign
    "\uff41\uff21\uff10\uff11\u2113\U0001d41a\u0663"  # full-width, script, bold, Arabic 3
)


# -- each component's verdict ------------------------------------------------------------------


def registry_accepts_action(value: str) -> bool:
    try:
        registry.actions([value], "allowed_actions")
    except InvalidArgument:
        return False
    return True


def verifier_accepts_action(value: str) -> bool:
    try:
        validate_verify(verifier_pb2.VerifyRequest(agent_id=AGENT, action=value), "ten_x")
    except InvalidArgument as exc:
        assert exc.field == "action"
        return False
    return True


def console_accepts_action(value: str) -> bool:
    return "action" not in forms.probe_form({"action": value}).errors


def sdk_accepts_action(value: str) -> bool:
    try:
        build_verify_request(AGENT, value)
    except InvalidRequest as exc:
        assert exc.field == "action"
        return False
    return True


def registry_accepts_currency(value: str) -> bool:
    try:
        registry.currency(value, "max_amount.currency")
    except InvalidArgument:
        return False
    return True


def verifier_accepts_currency(value: str) -> bool:
    money = common_pb2.Money(amount_minor=1, currency=value)
    request = verifier_pb2.VerifyRequest(agent_id=AGENT, action="purchase", amount=money)
    try:
        validate_verify(request, "ten_x")
    except InvalidArgument as exc:
        assert exc.field == "amount.currency"
        return False
    return True


def console_accepts_currency(value: str) -> bool:
    data = {"action": "purchase", "amount": "1", "currency": value}
    return "currency" not in forms.probe_form(data).errors


def sdk_accepts_currency(value: str) -> bool:
    try:
        build_verify_request(AGENT, "purchase", amount=1, currency=value)
    except InvalidRequest as exc:
        assert exc.field == "currency"
        return False
    return True


def typed(value: str) -> str:
    """What a person's form input or an SDK caller's code becomes: trimmed, ASCII upper-cased."""
    trimmed = value.strip()
    return trimmed.upper() if trimmed.isascii() else trimmed


# -- generated strings, near misses included ---------------------------------------------------


def _near_miss(rng: random.Random, word: str) -> str:
    """`word` bent one way a hand might bend it."""
    index = rng.randrange(len(word))
    return rng.choice(
        [
            word.upper(),
            word[:index] + word[index].upper() + word[index + 1 :],
            word.replace("_", "__", 1) if "_" in word else word + "__x",
            word + "_",
            "_" + word,
            rng.choice(string.digits) + word,
            word + "\n",
            " " + word,
            word[:index] + rng.choice(LOOKALIKES) + word[index + 1 :],
            word[:index] + rng.choice("-. \t\x00\u00e9") + word[index + 1 :],
            (word + "_x") * 40,
            word.lower(),
            word[:-1],
            word + rng.choice(string.ascii_uppercase),
        ]
    )


def _action_word(rng: random.Random) -> str:
    parts = [rng.choice(string.ascii_lowercase)]
    parts += rng.choices(string.ascii_lowercase + string.digits, k=rng.randrange(0, 8))
    for _ in range(rng.randrange(0, 4)):
        parts += ["_", *rng.choices(string.ascii_lowercase + string.digits, k=rng.randrange(1, 6))]
    return "".join(parts)


ACTION_EXAMPLES = [
    "purchase",
    "send_email",
    "a",
    "a1",
    "x9_2",
    "a" * 64,
    "a" * 65,
    "a_" * 31 + "ab",
    "a_" * 32 + "a",
    "",
    "_",
    "a__b",
    "purchase_",
    "_purchase",
    "1purchase",
    "Purchase",
    "purchasE",
    "purchase\n",
    "purchase ",
    " purchase",
    "pur-chase",
    "purchase\x00",
    "purch\u0430se",  # Cyrillic a
    "\u017fend",  # long s
    "\u212aill",  # Kelvin sign, which lower-cases to k
    "\uff50urchase",  # full-width p
    "send_ema\u0130l",
]
CURRENCY_EXAMPLES = [
    "USD",
    "EUR",
    "JPY",
    "XAU",
    "XAG",
    "BOV",
    "CHE",
    "CHW",
    "XTS",
    "XXX",
    "ZWL",
    "",
    "usd",
    "Usd",
    "US",
    "USDX",
    "USD\n",
    " USD",
    "ABC",
    "ZZZ",
    "X1Z",
    "\x00\x00\x00",
    "\u20ac\u20ac\u20ac",
    "u\u017fd",  # long s: "u\u017fd".upper() == "USD"
    "U\u0405D",  # Cyrillic S
    "\uff35\uff33\uff24",  # full-width
    "\u1d1csd",
]


def generated_cases(seed: int = 14) -> dict[str, list[str]]:
    """Action and currency strings: the examples above, then valid ones and their near misses."""
    rng = random.Random(seed)
    actions = list(ACTION_EXAMPLES)
    currencies = [*CURRENCY_EXAMPLES, *CODES]  # every code, so a copy of the table is checked
    for _ in range(150):
        word = _action_word(rng)
        actions += [word, _near_miss(rng, word)]
    for _ in range(100):
        code = rng.choice(CODES)
        currencies += [code, _near_miss(rng, code)]
        currencies.append("".join(rng.choices(string.ascii_uppercase, k=3)))
    return {
        "actions": list(dict.fromkeys(actions)),
        "currencies": list(dict.fromkeys(currencies)),
    }


def fixture() -> dict[str, object]:
    """The shared fixture: each generated string with the verdict every checker must give."""
    cases = generated_cases()
    return {
        "description": (
            "Generated by tests/unit/test_shared_grammars.py (fixed seed): strings and whether "
            "they are an action name (lower_snake words, 1..64 characters) or an ISO-4217 code, "
            "exactly as given (no trimming or case folding). Checked by the Python unit test and "
            "the TypeScript SDK's test/unit/grammar.test.ts."
        ),
        "actions": [{"value": s, "valid": is_action(s)} for s in cases["actions"]],
        "currencies": [{"value": s, "valid": is_currency(s)} for s in cases["currencies"]],
        "exponents": {code: minor_unit_exponent(code) for code in CODES},
    }


def _render() -> str:
    return json.dumps(fixture(), indent=1) + "\n"


# -- the properties ----------------------------------------------------------------------------

_lookalike = st.sampled_from(LOOKALIKES)
ACTIONS = st.one_of(
    st.from_regex(ACTION_PATTERN, fullmatch=True),
    st.from_regex(ACTION_PATTERN, fullmatch=True).map(lambda s: s + "_"),
    st.from_regex(ACTION_PATTERN, fullmatch=True).map(lambda s: s.replace("_", "__")),
    st.from_regex(ACTION_PATTERN, fullmatch=True).map(str.upper),
    st.from_regex(ACTION_PATTERN, fullmatch=True).map(lambda s: s + "\n"),
    st.builds(lambda d, s: d + s, st.sampled_from(string.digits), st.from_regex(r"[a-z_]{0,8}")),
    st.integers(60, 70).map(lambda n: "a" * n),
    st.builds(lambda a, c, b: a + c + b, st.from_regex(r"[a-z]{0,4}"), _lookalike, st.text()),
    st.text(alphabet=string.ascii_letters + string.digits + "_ \n-", max_size=70),
    st.text(max_size=20),
)
CURRENCIES = st.one_of(
    st.sampled_from(CODES),
    st.sampled_from(CODES).map(str.lower),
    st.sampled_from(CODES).map(lambda s: f" {s}\n"),
    st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=4),
    st.builds(
        lambda c, i, x: c[:i] + x + c[i + 1 :],
        st.sampled_from(CODES),
        st.integers(0, 2),
        _lookalike,
    ),
    st.text(max_size=5),
)


@settings(max_examples=400)
@given(value=ACTIONS)
@example(value="a__b")
@example(value="purchase_")
@example(value="a" * 65)
@example(value="purchase\n")
@example(value="\u017fend")
def test_every_checker_accepts_the_same_actions(value: str) -> None:
    """Registry, verifier and SDK accept exactly the shared grammar; the console, its trim."""
    verdict = is_action(value)
    assert registry_accepts_action(value) is verdict
    assert verifier_accepts_action(value) is verdict
    assert sdk_accepts_action(value) is verdict
    assert console_accepts_action(value) is is_action(value.strip())


@settings(max_examples=400)
@given(value=CURRENCIES)
@example(value="XAU")
@example(value="BOV")
@example(value="u\u017fd")
@example(value="USD\n")
def test_every_checker_accepts_the_same_currencies(value: str) -> None:
    """Registry and verifier accept exactly the shared table; the console and SDK, once typed."""
    verdict = is_currency(value)
    assert registry_accepts_currency(value) is verdict
    assert verifier_accepts_currency(value) is verdict
    assert sdk_accepts_currency(value) is is_currency(typed(value))
    assert console_accepts_currency(value) is is_currency(typed(value))


def test_fixture_cases_get_the_same_verdict_everywhere() -> None:
    """Every string of the shared fixture gets the same verdict from every Python checker."""
    for value in generated_cases()["actions"]:
        verdicts = {
            registry_accepts_action(value),
            verifier_accepts_action(value),
            sdk_accepts_action(value),
        }
        assert verdicts == {is_action(value)}, value
    for value in generated_cases()["currencies"]:
        verdicts = {registry_accepts_currency(value), verifier_accepts_currency(value)}
        assert verdicts == {is_currency(value)}, value


def test_the_exponents_are_iso_4217s() -> None:
    """ISO 4217 list one: 17 currencies without decimals, 7 with three, 2 with four."""
    by_exponent: dict[int, set[str]] = {}
    for code in CODES:
        by_exponent.setdefault(minor_unit_exponent(code), set()).add(code)
    assert by_exponent[0] == set(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
    )
    assert by_exponent[3] == set("BHD IQD JOD KWD LYD OMR TND".split())
    assert by_exponent[4] == {"CLF", "UYW"}
    assert {"USD", "EUR", "GBP", "CHF"} <= by_exponent[2]
    assert set(by_exponent) == {0, 2, 3, 4}


def test_fixture_is_up_to_date() -> None:
    """tests/cases/grammar_cases.json holds the current generated cases and Python verdicts."""
    assert FIXTURE.read_text(encoding="utf-8") == _render(), (
        "regenerate with `.venv/bin/python -m tests.unit.test_shared_grammars`"
    )


def test_fixture_has_both_verdicts_and_the_near_misses() -> None:
    """The fixture is not one-sided: valid strings, and each kind of near miss, are in it."""
    data = fixture()
    for kind in ("actions", "currencies"):
        verdicts = [case["valid"] for case in data[kind]]  # type: ignore[attr-defined]
        assert verdicts.count(True) >= 50 and verdicts.count(False) >= 50
    actions = {case["value"] for case in data["actions"]}  # type: ignore[attr-defined]
    assert {"a__b", "purchase_", "1purchase", "a" * 65, "purchase\n", "\u017fend"} <= actions
    assert MAX_ACTION_LENGTH == 64
    valid = {case["value"] for case in data["currencies"] if case["valid"]}  # type: ignore[attr-defined]
    assert valid == ISO_4217


if __name__ == "__main__":
    FIXTURE.write_text(_render(), encoding="utf-8")
    print(f"wrote {FIXTURE}")
