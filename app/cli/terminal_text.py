"""Text from files made safe for a terminal.

Names in .rvq headers and model metadata come from whoever wrote the file; printed raw, an
escape sequence in them would drive the user's terminal (move the cursor, retitle the
window, hide text). Everything the command line prints that a file could have supplied
passes through :func:`printable`.
"""
from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every non-printable character (controls, escapes, bidi overrides) as ``\\x..``/``\\u....``."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
