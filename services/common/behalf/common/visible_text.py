"""Text a person will read: no character that hides, reorders or drives what is shown.

Controls (ESC, NUL, newlines), format characters (zero-width, bidi overrides and isolates),
surrogates, private-use and unassigned code points, and line or paragraph separators can make
a console page, a terminal or a log say something other than the stored text. Where a caller
may be the agent, such text is refused rather than cleaned up.
"""

from __future__ import annotations

import unicodedata

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SPACE = "Zs"


def first_hidden(text: str, *, spaces: bool) -> str | None:
    """The first character of `text` that is hidden or controls display (or any space, unless
    `spaces`), or None when every character shows as itself."""
    if text.isascii() and text.isprintable() and (spaces or " " not in text):
        return None
    for ch in text:
        category = unicodedata.category(ch)
        if category in HIDDEN_CATEGORIES or (category == _SPACE and not spaces):
            return ch
    return None


def describe(ch: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`: a character named safely, for an error message."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"
