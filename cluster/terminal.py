"""What the command line prints: text from the gateway with its control characters made visible.

A mail subject, a rule's error or a webhook's answer is written by whoever sent it. Printed
raw, an escape sequence in it (``ESC ] 0;...`` sets the terminal's title, ``ESC [2J`` clears
the screen) acts on the operator's terminal, and a bidi override (U+202E) reorders what the
line seems to say. Every printer of the command line goes through :func:`show`, which writes
C0 and C1 control characters (U+0000-U+001F, U+007F-U+009F) as ``\\xNN`` and the bidi
embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) as ``\\uNNNN``.
"""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["escape_controls", "show", "show_lines"]

_ESCAPES: dict[int, str] = {
    **{code: f"\\x{code:02x}" for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))},
    **{code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


def escape_controls(text: str) -> str:
    """``text`` with every control character and bidi override written visibly
    (``"\\x1b"``, ``"\\u202e"``); a newline too, so one value stays one line."""
    return text.translate(_ESCAPES)


def show(
    text: str = "", *, file: TextIO | None = None, end: str = "\n", flush: bool = False
) -> None:
    """Print one line of ``text`` with :func:`escape_controls` applied (to stdout, or ``file``)."""
    print(escape_controls(text), file=file or sys.stdout, end=end, flush=flush)


def show_lines(text: str, *, file: TextIO | None = None) -> None:
    """Print a text of several lines the command line composed (a table, indented JSON): each
    line through :func:`show`, the line breaks between them kept."""
    for line in text.split("\n"):
        show(line, file=file)
